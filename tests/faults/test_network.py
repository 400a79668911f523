"""Network faults against the real test servers: FTP drops, S3 errors and time-outs.

Every scenario delivers new files, arms one fault and runs a sync. A run either retries and
succeeds, or fails with one clear sentence (exit 1, the location named, no traceback); then
the fault is lifted and the next run must complete with nothing lost and nothing applied
twice. The FTP faults come from a pyftpdlib handler subclass (the server's connection
handler is swapped for it); the S3 faults from a small HTTP proxy in front of moto.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.faults.harness import (
    EXIT_OK,
    LocalFolder,
    Runner,
    S3Folder,
    assert_clear_failure,
    check_consistent,
    check_final,
    headline,
    make_exchange,
    next_run_is_exact,
    run_in_process,
    say,
)
from tests.servers import HOST, running_ftp_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

FILES, LINES, ARTICLES = 3, 300, 300


# -- FTP: a connection handler that drops the connection once, where told ---------------------


class FaultPlan:
    """Faults to inject, consumed as they fire: (command, path fragment, times, action)."""

    def __init__(self) -> None:
        self._rules: list[list[Any]] = []
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()

    def arm(self, command: str, action: str, where: str = "", times: int = 1) -> None:
        with self._lock:
            self._rules.append([command, where, times, action])

    def disarm(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(self, command: str, subject: str) -> str | None:
        with self._lock:
            for rule in self._rules:
                if rule[0] == command and re.search(rule[1], subject) and rule[2] > 0:
                    rule[2] -= 1
                    self.injected[f"{command} {rule[3]}"] += 1
                    return rule[3]
        return None


def inject_ftp_faults(server) -> FaultPlan:
    """Swap the server's connection handler for a subclass that obeys a :class:`FaultPlan`.

    Actions: ``drop`` closes the control connection instead of running the command;
    ``drop-midway`` (RETR) sends half the file then drops before "226 Transfer complete";
    ``drop-after`` runs the command (the rename or upload happens) and drops instead of
    replying, so the client cannot know it happened.
    """
    plan = FaultPlan()
    base = server._server.handler

    class FaultyHandler(base):  # type: ignore[misc, valid-type]
        _swallow: str | None = None

        def respond(self, resp, *args, **kwargs):
            if self._swallow and resp.startswith(self._swallow):
                self._swallow = None
                self.close()
                return None
            return super().respond(resp, *args, **kwargs)

        def ftp_MLSD(self, path):
            if plan.take("MLSD", path) == "drop":
                self.close()
                return None
            return super().ftp_MLSD(path)

        def ftp_RETR(self, file):
            if plan.take("RETR", file) == "drop-midway":
                data = Path(file).read_bytes()
                self._swallow = "226"
                self.push_dtp_data(data[: len(data) // 2], cmd="RETR")
                return file
            return super().ftp_RETR(file)

        def ftp_STOR(self, file, mode="w"):
            action = plan.take("STOR", file)
            if action == "drop":
                self.close()
                return None
            if action == "drop-after":
                self._swallow = "226"
            return super().ftp_STOR(file, mode)

        def ftp_RNTO(self, path):
            action = plan.take("RNTO", path)
            if action == "drop":
                self._rnfr = None
                self.close()
                return None
            if action == "drop-after":
                self._swallow = "250"
            return super().ftp_RNTO(path)

    server._server.handler = FaultyHandler
    return plan


FTP_SCENARIOS = [
    # (what, command, action, path pattern)
    ("listing dropped", "MLSD", "drop", "inbox$"),
    ("download dropped half-way", "RETR", "drop-midway", r"inbox/mv-"),
    ("archive rename dropped before renaming", "RNTO", "drop", "/archive/"),
    ("archive rename dropped after renaming", "RNTO", "drop-after", "/archive/"),
    ("export upload dropped before the upload", "STOR", "drop", r"outbox/\.articles"),
    ("export upload dropped after the upload", "STOR", "drop-after", r"outbox/\.articles"),
    ("export rename dropped before renaming", "RNTO", "drop", "outbox/articles.txt$"),
]


def test_ftp_connection_drops(make_store, tmp_path, cli_env, sqlite_url, view_of, capfd):
    with running_ftp_server(tmp_path / "ftp-home") as server:
        (server.root / "inbox").mkdir()
        plan = inject_ftp_faults(server)
        credentials = {"username": server.user, "password": server.password, "timeout": 5}
        exchange = make_exchange(
            make_store,
            sqlite_url,
            seed=31,
            articles=ARTICLES,
            lines=LINES,
            folders={
                "inbox": LocalFolder(server.root / "inbox"),
                "archive": LocalFolder(server.root / "inbox" / "archive"),
                "export": LocalFolder(server.root / "outbox"),
            },
            **{
                "import": {"url": server.url("inbox/"), **credentials},
                "export": {"url": server.url("outbox/articles.txt"), **credentials},
            },
        )
        view = view_of(sqlite_url)
        location = server.url("inbox")
        outcomes: Counter[str] = Counter()

        for what, command, action, where in FTP_SCENARIOS:
            exchange.deliver(FILES)
            plan.arm(command, action, where)
            code, output = run_in_process(exchange.config, capfd)
            assert code == EXIT_OK, f"{what}: {output}"
            assert plan.injected[f"{command} {action}"] >= 1, f"{what}: fault never fired"
            check_final(exchange, view)
            outcomes["retried, completed"] += 1
            say(capfd, f"[ftp] {what}: retried, completed")

        # The same drop on every attempt: the run fails with one sentence, after the commit
        # for the archive case, and the next run recovers without applying anything twice.
        exchange.deliver(FILES)
        plan.arm("RNTO", "drop", "/archive/", times=1000)
        code, output = run_in_process(exchange.config, capfd)
        assert_clear_failure(code, output, location)
        state = check_consistent(exchange, view)
        assert state.applied_not_archived == FILES, "committed, then archiving failed"
        plan.disarm()
        code, output = run_in_process(exchange.config, capfd)
        assert code == EXIT_OK, output
        assert output.count("recovered") >= FILES, output
        check_final(exchange, view)
        say(capfd, "[ftp] archive rename always dropped: failed clearly after the commit;")
        say(capfd, "[ftp]   the next run recovered the committed files")

        # Every download dropped, through the real CLI process: exit 1, one sentence.
        exchange.deliver(FILES)
        plan.arm("RETR", "drop-midway", r"inbox/mv-", times=1000)
        launched = Runner(exchange, cli_env, tmp_path / "cli").start(traced=False)
        code = launched.wait()
        assert_clear_failure(code, launched.text(), location)
        assert check_consistent(exchange, view).pending == FILES
        plan.disarm()
        next_run_is_exact(exchange, view, capfd)
        say(
            capfd,
            "[ftp] download always dropped (CLI process): exit 1 with"
            f" {headline(launched.text())!r}; next run completed",
        )
        outcomes["failed clearly, next run completed"] += 2
        say(capfd, f"[ftp] faults injected: {dict(plan.injected)}; outcomes: {dict(outcomes)}")


# -- S3: a fault-injecting HTTP proxy in front of moto ----------------------------------------


class FaultyProxy:
    """Forwards HTTP to ``upstream`` except where a rule says otherwise.

    Actions: ``500``/``503`` answer an S3 error, ``drop`` closes without an answer,
    ``stall`` waits longer than the client's time-out (nothing forwarded), ``lose-answer``
    forwards (the effect happens) and then drops the answer.
    """

    def __init__(self, upstream: str, stall: float):
        self.upstream = urlsplit(upstream)
        self.stall = stall
        self.plan = FaultPlan()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    self.rfile.readline()
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                body = self._body()
                copy = " copy" if "x-amz-copy-source" in self.headers else ""
                action = proxy.plan.take(self.command, f"{self.command}{copy} {self.path}")
                if action in ("500", "503"):
                    code = "InternalError" if action == "500" else "SlowDown"
                    payload = (
                        f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
                        "<Message>injected by the test</Message></Error>"
                    ).encode()
                    self.send_response(int(action))
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if action in ("drop", "stall"):
                    if action == "stall":
                        time.sleep(proxy.stall)
                    self.close_connection = True
                    return
                status, headers, data = proxy.forward(self.command, self.path, self.headers, body)
                if action == "lose-answer":
                    self.close_connection = True
                    return
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in ("transfer-encoding", "connection", "server", "date"):
                        self.send_header(name, value)
                if not any(n.lower() == "content-length" for n, _ in headers):
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{HOST}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def forward(self, method: str, path: str, headers, body: bytes):
        connection = http.client.HTTPConnection(
            self.upstream.hostname, self.upstream.port, timeout=30
        )
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in ("expect", "connection")}
            connection.request(method, path, body=body or None, headers=sent)
            response = connection.getresponse()
            data = response.read()
            return response.status, response.getheaders(), data
        finally:
            connection.close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


S3_SCENARIOS = [
    # (what, method, action, "METHOD[ copy] path" pattern)
    ("listing answered 503 SlowDown", "GET", "503", r"list-type=2.*prefix=import", 1),
    ("download stalled past the time-out", "GET", "stall", r"^GET /stock/import/mv-", 1),
    ("archive copy dropped", "PUT", "drop", r"^PUT copy /stock/import/archive/", 1),
    ("source delete answer lost", "DELETE", "lose-answer", r"^DELETE /stock/import/mv-", 1),
    ("export upload stalled past the time-out", "PUT", "stall", r"^PUT /stock/export/", 1),
]


def test_s3_errors_and_timeouts(
    make_store, tmp_path, cli_env, sqlite_url, view_of, capfd, s3_server
):
    proxy = FaultyProxy(s3_server.endpoint_url, stall=2.5)
    try:
        options = {
            "endpoint_url": proxy.url,
            "key": s3_server.key,
            "secret": s3_server.secret,
            "region": s3_server.region,
            "timeout": 1,
        }
        client, bucket = s3_server.client, s3_server.bucket
        exchange = make_exchange(
            make_store,
            sqlite_url,
            seed=47,
            articles=ARTICLES,
            lines=LINES,
            folders={
                "inbox": S3Folder(client, bucket, "import/"),
                "archive": S3Folder(client, bucket, "import/archive/"),
                "export": S3Folder(client, bucket, "export/"),
            },
            **{
                "import": {"url": f"s3://{bucket}/import/", **options},
                "export": {"url": f"s3://{bucket}/export/articles.txt", **options},
            },
        )
        view = view_of(sqlite_url)
        plan = proxy.plan
        outcomes: Counter[str] = Counter()
        for what, method, action, where, times in S3_SCENARIOS:
            exchange.deliver(FILES)
            plan.arm(method, action, where, times)
            began = time.monotonic()
            code, output = run_in_process(exchange.config, capfd)
            assert plan.injected[f"{method} {action}"] >= 1, f"{what}: fault never fired"
            if code == EXIT_OK:
                outcomes["retried, completed"] += 1
                result = "retried, completed"
            else:
                assert_clear_failure(code, output, f"s3://{bucket}/")
                check_consistent(exchange, view)
                plan.disarm()
                code, output = run_in_process(exchange.config, capfd)
                assert code == EXIT_OK, output
                outcomes["failed clearly, next run completed"] += 1
                result = "failed clearly; next run completed"
            plan.disarm()
            check_final(exchange, view)
            say(capfd, f"[s3] {what}: {result} ({time.monotonic() - began:.1f} s)")

        # Errors that do not pass, through the real CLI process: exit 1, one sentence, and
        # the next run completes exactly.
        exchange.deliver(FILES)
        plan.arm("GET", "500", r"^GET /stock/import/mv-", times=1000)
        launched = Runner(exchange, cli_env, tmp_path / "cli").start(traced=False)
        code = launched.wait()
        assert_clear_failure(code, launched.text(), f"s3://{bucket}/import")
        assert check_consistent(exchange, view).pending == FILES
        plan.disarm()
        next_run_is_exact(exchange, view, capfd)
        outcomes["failed clearly, next run completed"] += 1
        say(
            capfd,
            "[s3] downloads always 500 (CLI process): exit 1 with"
            f" {headline(launched.text())!r}; next run completed",
        )
        say(capfd, f"[s3] faults injected: {dict(plan.injected)}; outcomes: {dict(outcomes)}")
    finally:
        proxy.close()
