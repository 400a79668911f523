"""``stockbridge`` with a tracer of a Seliton run's side effects: what the kill campaign
launches and kills.

Like ``_sbrun.py`` it runs ``stockbridge.cli.main`` unchanged and only observes: SQLAlchemy's
statement hook (which statement starts, against Warehouse Pro or the ledger) and httpx's
``Client.send`` (which shop action is about to go out). It appends ``<monotonic> <event>``
to ``$SB_TRACE`` *before* each effect. ``SB_CRASH=event:n`` SIGKILLs the process group at
the n-th ``event``, before it happens. Events:

``assign`` (an order gets its УНП in the ledger), ``wp-write`` (an order's keys row into
Warehouse Pro, inside its transaction), ``mark-written`` (the ledger records the Warehouse
Pro write: after its commit, before ``updateorder``), ``confirm`` (the ledger records the
shop's acceptance), ``release``, ``digests`` (a feed batch's digests), ``commit``, and
``shop-ACTION`` for each request (``shop-getorders``, ``shop-updateorder``,
``shop-postxmlfeed``).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from urllib.parse import parse_qs


class Tracer:
    def __init__(self, trace: str):
        self.fd = os.open(trace, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.counts: dict[str, int] = {}
        spec = os.environ.get("SB_CRASH")
        self.crash = None
        if spec:
            event, count = spec.rsplit(":", 1)
            self.crash = (event, int(count))

    def event(self, name: str) -> None:
        os.write(self.fd, f"{time.monotonic():.6f} {name}\n".encode())
        self.counts[name] = self.counts.get(name, 0) + 1
        if self.crash == (name, self.counts[name]):
            os.write(self.fd, f"{time.monotonic():.6f} crash-point {name}\n".encode())
            os.killpg(os.getpgrp(), signal.SIGKILL)

    def statement(self, statement: str, parameters: object) -> None:
        text = " ".join(statement.split()).lower()
        values = str(parameters)
        if text.startswith("insert into stockbridge_seliton"):
            self.event("wp-write")
        elif text.startswith("insert into seliton_orders") or (
            text.startswith("update seliton_orders")
            and "'assigned'" in values
            and "'written'" not in values
        ):
            self.event("assign")
        elif text.startswith("update seliton_orders"):
            if "'confirmed'" in values and "'released'" not in values:
                self.event("confirm")
            elif "'released'" in values:
                self.event("release")
            elif "'written'" in values:
                self.event("mark-written")
        elif text.startswith(("insert into seliton_goods", "update seliton_goods")):
            self.event("digests")

    def install(self) -> None:
        import httpx
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        @event.listens_for(Engine, "before_cursor_execute")
        def _before(conn, cursor, statement, parameters, context, executemany):
            self.statement(statement, parameters)

        @event.listens_for(Engine, "commit")
        def _commit(conn):
            self.event("commit")

        original = httpx.Client.send
        tracer = self

        def send(client, request, *args, **kwargs):
            fields = parse_qs(request.content.decode("utf-8", "replace"))
            tracer.event("shop-" + (fields.get("action") or ["?"])[0])
            return original(client, request, *args, **kwargs)

        httpx.Client.send = send


def main() -> int:
    trace = os.environ.get("SB_TRACE")
    if trace:
        Tracer(trace).install()
    from stockbridge.cli import main as cli

    return cli(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
