// Switchboard dashboard: charts of the last hour (uPlot, served from static files) and a live
// table, refreshed every sampling interval from /dashboard/series and /dashboard/table.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("dashboard-settings").textContent);
  const seriesName = cfg.subscription || "*";
  const COLORS = ["#0969da", "#1a7f37", "#bf8700", "#cf222e", "#8250df", "#57606a"];

  const CHARTS = {
    throughput: [["published_rate", "published/s"], ["delivered_rate", "delivered/s"], ["retried_rate", "retried/s"]],
    depth: [["ready", "ready"], ["scheduled", "scheduled"], ["in_flight", "in flight"], ["outbox", "outbox"]],
    age: [["oldest_age", "oldest open (s)"]],
    latency: [["latency_p50_ms", "p50"], ["latency_p99_ms", "p99"]],
    errors: [["error_rate", "error rate", "ratio"], ["dead_rate", "dead/s"]],
    consumers: [["consumers", "consumers"], ["dead_letters", "dead letters"]],
  };

  const data = { t: [] };
  const charts = {};
  let last = null;

  function makeChart(el, lines) {
    const width = Math.max(el.clientWidth - 16, 300);
    const opts = {
      width: width,
      height: 200,
      scales: { x: { time: true } },
      axes: [{}, { size: 80 }],
      series: [{}].concat(
        lines.map(([, label], i) => ({ label: label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true }))
      ),
    };
    return new uPlot(opts, [[]].concat(lines.map(() => [])), el);
  }

  function append(columns) {
    const t = columns.t || [];
    if (!t.length) return false;
    for (const [name, values] of Object.entries(columns)) {
      if (!data[name]) data[name] = new Array(data.t.length - (name === "t" ? 0 : 0)).fill(null);
      if (name !== "t") data[name].push(...values);
    }
    data.t.push(...t);
    for (const name of Object.keys(data)) {
      while (data[name].length < data.t.length) data[name].push(null);
    }
    // Keep the window: drop points older than an hour.
    const floor = data.t[data.t.length - 1] - cfg.window;
    let drop = 0;
    while (drop < data.t.length && data.t[drop] < floor) drop++;
    if (drop) for (const name of Object.keys(data)) data[name].splice(0, drop);
    last = data.t[data.t.length - 1];
    return true;
  }

  function redraw() {
    for (const [name, lines] of Object.entries(CHARTS)) {
      charts[name].setData([data.t].concat(lines.map(([key]) => data[key] || data.t.map(() => null))));
    }
  }

  async function getJson(url) {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(url + ": " + response.status);
    return response.json();
  }

  async function refreshSeries() {
    const params = new URLSearchParams({ subscription: seriesName });
    if (last !== null) params.set("since", String(last));
    const body = await getJson(cfg.series + "?" + params);
    if (append(body.columns)) redraw();
  }

  function cell(row, text, cls) {
    const td = document.createElement("td");
    if (text instanceof Node) td.appendChild(text); else td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }

  function link(href, text) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }

  const fmt = (v, digits) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));

  function renderTable(body) {
    document.getElementById("updated").textContent = body.taken_at
      ? "updated " + new Date(body.taken_at).toLocaleTimeString() : "waiting for the first sample…";
    const tbody = document.querySelector('[data-testid="subscriptions"] tbody');
    const rows = body.subscriptions.map((s) => {
      const tr = document.createElement("tr");
      tr.dataset.subscription = s.subscription;
      cell(tr, link(cfg.dashboard + "subscriptions/" + encodeURIComponent(s.subscription) + "/", s.subscription));
      cell(tr, s.topic, "text");
      cell(tr, s.paused ? "paused" : "", s.paused ? "paused" : "");
      for (const key of ["consumers", "ready", "scheduled", "in_flight", "outbox"]) cell(tr, String(s[key])).dataset.field = key;
      cell(tr, fmt(s.oldest_age, 1)).dataset.field = "oldest_age";
      cell(tr, String(s.delivered)).dataset.field = "delivered";
      cell(tr, fmt(s.delivered_rate, 1)).dataset.field = "delivered_rate";
      cell(tr, (100 * s.error_rate).toFixed(1) + "%").dataset.field = "error_rate";
      cell(tr, fmt(s.latency_p50_ms, 1)).dataset.field = "latency_p50_ms";
      cell(tr, fmt(s.latency_p99_ms, 1)).dataset.field = "latency_p99_ms";
      const dead = s.subscription_id === null ? String(s.dead_letters)
        : link(cfg.deadLetters + "?subscription__id__exact=" + s.subscription_id, String(s.dead_letters));
      cell(tr, dead).dataset.field = "dead_letters";
      cell(tr, s.alerts.join(", "), s.alerts.length ? "text sev-critical" : "text").dataset.field = "alerts";
      return tr;
    });
    tbody.replaceChildren(...rows);
    const topics = document.querySelector('[data-testid="topics"] tbody');
    if (topics) {
      topics.replaceChildren(...body.topics.map((t) => {
        const tr = document.createElement("tr");
        tr.dataset.topic = t.topic;
        cell(tr, t.topic);
        cell(tr, fmt(t.published_rate, 1)).dataset.field = "published_rate";
        cell(tr, String(t.published)).dataset.field = "published";
        return tr;
      }));
    }
    const alerts = document.getElementById("alerts");
    const list = document.createElement(body.alerts.length ? "ul" : "p");
    if (body.alerts.length) {
      for (const a of body.alerts) {
        const li = document.createElement("li");
        li.className = "sev-" + a.severity;
        li.textContent = `${a.rule} (${a.severity}) on ${a.subscription}: ${fmt(a.value, 2)}`;
        list.appendChild(li);
      }
    } else {
      list.className = "none";
      list.textContent = "None.";
    }
    alerts.replaceChildren(alerts.querySelector("h2"), list);
  }

  async function refreshTable() {
    const params = cfg.subscription ? "?" + new URLSearchParams({ subscription: cfg.subscription }) : "";
    renderTable(await getJson(cfg.table + params));
  }

  async function tick() {
    try {
      await Promise.all([refreshSeries(), refreshTable()]);
    } catch (error) {
      document.getElementById("updated").textContent = "update failed: " + error.message;
    }
  }

  for (const [name, lines] of Object.entries(CHARTS)) {
    charts[name] = makeChart(document.querySelector(`[data-chart="${name}"]`), lines);
  }
  window.switchboardDashboard = { charts: charts, data: data };
  tick();
  setInterval(tick, Math.max(cfg.interval, 1000));
})();
