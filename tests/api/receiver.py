"""A webhook receiver as an integrator would write it: a real HTTP server on 127.0.0.1 that checks
the signature (api.signing.verify: HMAC and replay window) and refuses a signature it has seen.
Started with an SSL context it speaks HTTPS and records the name each client asked for (SNI)."""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from api import signing


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    secret: str = ""
    answer_status: int = 204
    accepted: list[Received] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    server: ThreadingHTTPServer | None = None
    redirect_to: str = ""
    server_names: list[str | None] = field(default_factory=list)
    scheme: str = "http"

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{self.scheme}://{host}:{port}/hooks/rundbrief"

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        header = headers.get(signing.HEADER, "")
        try:
            signing.verify(self.secret, header, body)
        except signing.SignatureError as exc:
            self.refused.append((401, str(exc)))
            return 401, str(exc)
        if header in self.seen:
            self.refused.append((409, "replayed"))
            return 409, "replayed"
        self.seen.add(header)
        if self.redirect_to:
            return 307, self.redirect_to
        if self.answer_status >= 300:
            return self.answer_status, "not now"
        self.accepted.append(Received(headers=headers, body=body))
        return self.answer_status, ""

    def start(self, tls: ssl.SSLContext | None = None) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, text = receiver.handle(dict(self.headers.items()), body)
                self.send_response(status)
                if status == 307:
                    self.send_header("Location", text)
                self.end_headers()
                if text and status != 204:
                    self.wfile.write(text.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            tls.sni_callback = lambda sock, name, context: self.server_names.append(name)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
