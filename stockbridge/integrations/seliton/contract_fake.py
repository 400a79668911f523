"""A fake of Seliton's XML API: a third party that cannot run here, following the contract
stockbridge assumes (:mod:`stockbridge.integrations.seliton.wire`), for tests and the demo.

It is an HTTPS (or, for the bench, plain HTTP) server in the calling process. It keeps
products by code and orders by id, refuses a wrong user name or secret (401), malformed or
hostile XML (400), another УНП for an order that has one (409), and records every request
(without the secret) so a test can count what was sent. Faults are switched on by the
tests, one per coming request of an action (or of any action):

* ``status:503``  answer that HTTP status;
* ``429:2``       answer 429 with ``Retry-After: 2``;
* ``slow:3``      wait 3 s before answering (a client timeout);
* ``drop``        send the headers and half the body, then cut the connection;
* ``truncate``    send half of a well-formed answer and close it cleanly (no length);
* ``bomb``        answer a billion-laughs XML bomb;
* ``huge:N``      answer N bytes of well-formed XML.
"""

from __future__ import annotations

import collections
import contextlib
import http.server
import socket
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

from stockbridge.integrations.seliton import safexml, wire

BOMB = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b']>\n<Response status="ok"><Orders>&lol9;</Orders></Response>'
)


@dataclass
class FakeOrder:
    id: int
    items: list[tuple[str, str, str]]
    """(orderItemProductCode, orderItemQty, orderItemPrice) as the shop sends them."""
    status: str = "new"
    created_at: str = "2026-12-01T10:00:00"
    unp: str = ""


@dataclass
class Request:
    action: str
    fields: dict[str, str]


@dataclass
class SelitonFake:
    username: str
    secret: str
    cert_file: Path | None = None
    key_file: Path | None = None
    products: dict[str, dict[str, str]] = field(default_factory=dict)
    orders: dict[int, FakeOrder] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    updates: list[tuple[int, str]] = field(default_factory=list)
    """Every accepted ``updateorder`` (order id, УНП), repeats included."""
    online_products: list[dict[str, str]] = field(default_factory=list)
    """Goods created on the shop, served by ``getproducts``."""
    faults: dict[str, collections.deque] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- control --------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        fake = self

        class Handler(_Handler):
            shop = fake

        self.server = _Server((host, port), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if self.cert_file is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.cert_file), str(self.key_file))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"{scheme}://{host}:{self.server.server_address[1]}/"
        return self.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fault(self, spec: str, action: str = "*", times: int = 1) -> None:
        with self.lock:
            self.faults.setdefault(action, collections.deque()).extend([spec] * times)

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def add_order(self, order_id: int, items: list[tuple[str, str, str]], **kw) -> FakeOrder:
        with self.lock:
            order = self.orders[order_id] = FakeOrder(order_id, list(items), **kw)
        return order

    def actions(self, action: str) -> list[Request]:
        return [r for r in self.requests if r.action == action]

    # -- answers --------------------------------------------------------------------------

    def _next_fault(self, action: str) -> str | None:
        with self.lock:
            for key in (action, "*"):
                queue = self.faults.get(key)
                if queue:
                    return queue.popleft()
        return None

    def answer(self, fields: dict[str, str]) -> tuple[int, bytes]:
        action = fields.get("action", "")
        if fields.get("username") != self.username or fields.get("secret") != self.secret:
            return 401, _error("auth", "Invalid username or secret")
        if fields.get("version") != wire.VERSION:
            return 400, _error("version", "Unsupported version")
        with self.lock:
            self.requests.append(
                Request(action, {k: v for k, v in fields.items() if k != "secret"})
            )
        handler = getattr(self, f"_{action}", None)
        if handler is None:
            return 400, _error("action", f"Unknown action {action}")
        return handler(fields)

    def _getorders(self, fields: dict[str, str]) -> tuple[int, bytes]:
        after = int(fields.get("from_id") or 0)
        limit = int(fields.get("limit") or 100)
        with self.lock:
            chosen = sorted((o for o in self.orders.values() if o.id > after), key=lambda o: o.id)
        root = ET.Element("Response", status="ok")
        listed = ET.SubElement(root, "Orders")
        for order in chosen[:limit]:
            element = ET.SubElement(listed, "Order")
            for name, value in (
                ("id", str(order.id)),
                ("status", order.status),
                ("createdAt", order.created_at),
                ("unp", order.unp),
            ):
                ET.SubElement(element, name).text = value
            items = ET.SubElement(element, "items")
            for code, quantity, price in order.items:
                item = ET.SubElement(items, "item")
                ET.SubElement(item, "orderItemProductCode").text = code
                ET.SubElement(item, "orderItemQty").text = quantity
                ET.SubElement(item, "orderItemPrice").text = price
        return 200, ET.tostring(root, encoding="utf-8", xml_declaration=True)

    def _postxmlfeed(self, fields: dict[str, str]) -> tuple[int, bytes]:
        try:
            feed = safexml.parse(fields.get("xml", "").encode())
        except safexml.UnsafeXML as exc:
            return 400, _error("xml", f"Malformed feed: {exc}")
        if feed.tag != "Feed" or feed.find("Products") is None:
            return 400, _error("xml", "A feed needs <Feed><Products>")
        count = 0
        with self.lock:
            for element in feed.iterfind("Products/Product"):
                values = {child.tag: (child.text or "") for child in element}
                values["category"] = element.findtext("categories/category") or ""
                code = values.get("code", "")
                if not code:
                    return 400, _error("xml", "A product without code")
                current = self.products.setdefault(code, {"isActive": "0"})
                current.update({k: v for k, v in values.items() if k != "categories"})
                count += 1
        root = ET.Element("Response", status="ok")
        ET.SubElement(root, "Accepted").text = str(count)
        return 200, ET.tostring(root, encoding="utf-8")

    def _updateorder(self, fields: dict[str, str]) -> tuple[int, bytes]:
        order_id, unp = int(fields.get("id") or 0), fields.get("unp", "")
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                return 404, _error("notfound", f"No order {order_id}")
            if order.unp and order.unp != unp:
                return 409, _error("conflict", f"Order {order_id} already has УНП {order.unp}")
            order.unp = unp
            self.updates.append((order_id, unp))
        return 200, b'<Response status="ok"/>'

    def _getproducts(self, fields: dict[str, str]) -> tuple[int, bytes]:
        after = int(fields.get("from_id") or 0)
        root = ET.Element("Response", status="ok")
        listed = ET.SubElement(root, "Products")
        with self.lock:
            chosen = [p for p in self.online_products if int(p["id"]) > after]
        for product in chosen:
            element = ET.SubElement(listed, "Product")
            for name in ("id", "code", "barcode", "name", "price"):
                ET.SubElement(element, name).text = product.get(name, "")
        return 200, ET.tostring(root, encoding="utf-8")


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up (a refused huge answer, a killed run) is no error here."""
        import sys

        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def _error(code: str, text: str) -> bytes:
    root = ET.Element("Response", status="error")
    ET.SubElement(root, "Error", code=code).text = text
    return ET.tostring(root, encoding="utf-8")


class _Handler(http.server.BaseHTTPRequestHandler):
    shop: SelitonFake
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body in two writes: no 40 ms delayed ACK

    def log_message(self, *_: object) -> None:
        pass

    def do_POST(self) -> None:
        if self.path.split("?")[0].lstrip("/") != wire.API_PATH:
            self._send(404, _error("notfound", "No such page"))
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        fault = self.shop._next_fault(fields.get("action", ""))
        if fault and fault.startswith("slow:"):
            time.sleep(float(fault.split(":")[1]))
            fault = None
        if fault and fault.startswith("status:"):
            self._send(int(fault.split(":")[1]), _error("server", "Internal error"))
            return
        if fault and fault.startswith("429:"):
            self._send(429, _error("rate", "Too many requests"), {"Retry-After": fault[4:]})
            return
        if fault == "bomb":
            self._send(200, BOMB)
            return
        if fault and fault.startswith("huge:"):
            size = int(fault.split(":")[1])
            self._send(
                200, b'<Response status="ok"><Orders>' + b" " * size + b"</Orders></Response>"
            )
            return
        status, answer = self.shop.answer(fields)
        if fault == "drop":
            self.send_response(status)
            self.send_header("Content-Type", "application/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer[: len(answer) // 2])
            self.wfile.flush()
            self._cut()
            return
        if fault == "truncate":
            self.send_response(status)
            self.send_header("Content-Type", "application/xml; charset=utf-8")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(answer[: len(answer) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self._send(status, answer)

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _cut(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def self_signed_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a certificate it signed for 127.0.0.1 (the demo's fake shop over HTTPS):
    ``(ca_file, cert_file, key_file)``."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("stockbridge demo CA"))
        .issuer_name(name("stockbridge demo CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = (folder / "ca.pem", folder / "shop.pem", folder / "shop.key")
    paths[0].write_bytes(ca.public_bytes(pem))
    paths[1].write_bytes(cert.public_bytes(pem))
    paths[2].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths
