"""A real HTTP receiver for webhook tests: a threaded http.server on 127.0.0.1 that records
every request and answers by a rule the test sets. Not a test module."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """`answer(n)` gives the status code for the n-th request (1-based), or None: never
    answer (the connection is held until the server stops)."""

    def __init__(self, answer=lambda n: 200, body: bytes = b"ok"):
        self.answer = answer
        self.body = body
        self.received: list[Received] = []
        self.connections = 0  # TCP connections accepted
        self._lock = threading.Lock()
        self._stop = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: the client may reuse connections
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms ACK wait

            def setup(self):
                super().setup()
                with receiver._lock:
                    receiver.connections += 1

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver._lock:
                    receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                    n = len(receiver.received)
                status = receiver.answer(n)
                if status is None:
                    receiver._stop.wait(30)
                    return
                self.send_response(status)
                self.send_header("content-length", str(len(receiver.body)))
                self.end_headers()
                self.wfile.write(receiver.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
