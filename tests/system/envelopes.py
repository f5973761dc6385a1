"""A local stand-in for Sentry: an HTTP server on 127.0.0.1 that keeps every envelope the SDK sends.

Point a process at it with `SENTRY_DSN=receiver.dsn`. Envelopes arrive as POST
/api/<project>/envelope/, gzip-compressed or not; each is a header line, then an item
header line and its payload per item (https://develop.sentry.dev/sdk/envelopes/).
"""

import gzip
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Item:
    type: str
    payload: dict[str, Any]


@dataclass
class EnvelopeReceiver:
    items: list[Item] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> "EnvelopeReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver._keep(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def dsn(self) -> str:
        assert self._server is not None
        return f"http://public@127.0.0.1:{self._server.server_address[1]}/1"

    def _keep(self, body: bytes) -> None:
        """Split an envelope into its items (an item header with `length` gives its payload's size)."""
        position = body.index(b"\n") + 1
        items = []
        while position < len(body):
            end = body.find(b"\n", position)
            end = len(body) if end < 0 else end
            line = body[position:end].strip()
            position = end + 1
            if not line:
                continue
            header = json.loads(line)
            if "length" in header:
                raw = body[position : position + header["length"]]
                position += header["length"] + 1
            else:
                end = body.find(b"\n", position)
                end = len(body) if end < 0 else end
                raw, position = body[position:end], end + 1
            try:
                payload = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                payload = {}
            items.append(Item(type=header.get("type", ""), payload=payload if isinstance(payload, dict) else {}))
        with self._lock:
            self.items += items

    def of_type(self, kind: str) -> Iterator[dict[str, Any]]:
        with self._lock:
            found = [item.payload for item in self.items if item.type == kind]
        return iter(found)

    def transactions(self) -> list[dict[str, Any]]:
        return list(self.of_type("transaction"))

    def errors(self) -> list[dict[str, Any]]:
        return [event for event in self.of_type("event") if event.get("level") in ("error", "fatal")]
