"""A loopback HTTP server for download tests: serves a folder with Range support and injected faults."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Faults:
    """Faults to inject, by URL path: each entry is used up one request at a time."""

    cut: dict[str, int] = field(default_factory=dict)  # path -> times to cut a transfer midway
    corrupt: dict[str, int] = field(default_factory=dict)  # path -> times to serve flipped bytes
    status: dict[str, int] = field(default_factory=dict)  # path -> HTTP status to answer always
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)


class LoopbackServer:
    """Serve ``root`` on 127.0.0.1 (an ephemeral port) in a background thread."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.faults = Faults()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                server.faults.requests.append((self.path, self.headers.get("Range")))
                if self.path in server.faults.status:
                    self.send_error(server.faults.status[self.path])
                    return
                file = server.root / self.path.lstrip("/")
                if not file.is_file():
                    self.send_error(404)
                    return
                data = file.read_bytes()
                if server.faults.corrupt.get(self.path, 0) > 0:
                    server.faults.corrupt[self.path] -= 1
                    data = bytes([data[0] ^ 0xFF]) + data[1:]
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if server.faults.cut.get(self.path, 0) > 0:
                    server.faults.cut[self.path] -= 1
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
