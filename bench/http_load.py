"""A small HTTP load generator: fixed request count, several connections, one POST each.

Gunicorn's sync workers close the connection after every answer, so each request opens
its own connection; the client writes prebuilt bytes on a raw socket to stay cheaper
than the server it measures. Clients run in processes (2 by default, 2 threads each),
so the client's interpreter lock does not cap the rate.
"""

import multiprocessing
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass

import orjson


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str
    api_key: str
    body: bytes

    def request_bytes(self) -> bytes:
        head = (
            f"POST {self.path} HTTP/1.1\r\n"
            f"Host: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {self.api_key}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(self.body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        return head.encode() + self.body


def publish_body(payload: object) -> bytes:
    return orjson.dumps({"payload": payload})


def _one_request(host: str, port: int, request: bytes) -> int:
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    head = b"".join(chunks)[:12]
    return int(head[9:12]) if head.startswith(b"HTTP/1.") else 0


def _client_process(target: Target, counts: list[int], go: object, results: object) -> None:
    request = target.request_bytes()
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def run(n: int) -> None:
        local: Counter[int] = Counter()
        for _ in range(n):
            try:
                local[_one_request(target.host, target.port, request)] += 1
            except OSError:
                local[0] += 1
        with lock:
            statuses.update(local)

    threads = [threading.Thread(target=run, args=(n,)) for n in counts]
    go.wait()  # type: ignore[attr-defined]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(dict(statuses))  # type: ignore[attr-defined]


def load(target: Target, *, count: int, processes: int = 2, threads: int = 2) -> tuple[float, dict[int, int]]:
    """Send `count` POSTs over processes x threads connections; return seconds and status counts."""
    context = multiprocessing.get_context("fork")
    go = context.Event()
    results = context.Queue()
    lanes = processes * threads
    per_lane = [count // lanes + (1 if i < count % lanes else 0) for i in range(lanes)]
    workers = [
        context.Process(target=_client_process, args=(target, per_lane[p * threads : (p + 1) * threads], go, results))
        for p in range(processes)
    ]
    for worker in workers:
        worker.start()
    time.sleep(0.2)  # let the client processes reach the starting line
    started = time.perf_counter()
    go.set()
    statuses: Counter[int] = Counter()
    for _ in workers:
        statuses.update(results.get(timeout=600))
    seconds = time.perf_counter() - started
    for worker in workers:
        worker.join(timeout=10)
    return seconds, dict(statuses)
