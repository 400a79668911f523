"""An HTTPS server in the test process, serving a folder with a certificate of the test CA.

The shop's live stock file is read over HTTPS in production; here the server serves a local
folder (the same folder an FTP test server publishes into, when a test wants the shop to
see what was published). Every request is counted; basic authentication may be required.
"""

from __future__ import annotations

import base64
import contextlib
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.servers import HOST, TLSMaterial


@dataclass
class HTTPSTestServer:
    root: Path
    port: int
    ca_file: Path
    wrong_ca_file: Path
    requests: list[str] = field(default_factory=list)
    credentials: tuple[str, str] | None = None

    def url(self, path: str) -> str:
        return f"https://{HOST}:{self.port}/{path.lstrip('/')}"


def _handler(server: HTTPSTestServer):
    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, format, *args):
            pass

        def _allowed(self) -> bool:
            server.requests.append(f"{self.command} {self.path}")
            if server.credentials is None:
                return True
            token = base64.b64encode(":".join(server.credentials).encode()).decode()
            if self.headers.get("Authorization") == f"Basic {token}":
                return True
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="shop"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return False

        def do_GET(self):
            if self._allowed():
                super().do_GET()

        def do_HEAD(self):
            if self._allowed():
                super().do_HEAD()

    return Handler


@contextlib.contextmanager
def running_https_server(root: Path, tls: TLSMaterial) -> Iterator[HTTPSTestServer]:
    root.mkdir(parents=True, exist_ok=True)
    state = HTTPSTestServer(root, 0, tls.ca_file, tls.wrong_ca_file)
    handler = partial(_handler(state), directory=str(root))
    httpd = ThreadingHTTPServer((HOST, 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.cert_file, tls.key_file)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def https_server(tmp_path: Path, tls_material: TLSMaterial) -> Iterator[HTTPSTestServer]:
    with running_https_server(tmp_path / "https-root", tls_material) as server:
        yield server
