"""A warm ``stockbridge`` for kill campaigns: import once, fork one child per command.

Starting Python, Prefect and pandas costs seconds a process on this machine; a campaign of
thirty kills would spend its budget there. This process imports everything once, then for
each request read from stdin (one JSON object a line: ``argv``, ``env``, ``output``) forks a
child that starts a session of its own (so the test can SIGKILL its whole group), sends its
output to the file named, sets the environment given, installs the tracer named by
``tracer`` (``module:function``, called with the argv) and runs ``stockbridge.cli.main``
unchanged. The child's pid is answered on stdout; when a child ends, its exit code (or
``-signal``) is written to ``OUTPUT.rc``. ``SB_FORK_WARM`` (a comma list of modules) names
what a campaign's runs import besides ShopFactory's (``flows.chain`` for the chain's).

The parent never opens a database, a server connection or a thread of its own before
forking, so each child starts as clean as a new process would, minus the imports.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys


def _reap(signum, frame) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        output = _outputs.pop(pid, None)
        if output is None:
            continue
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        with open(f"{output}.rc.tmp", "w") as handle:
            handle.write(str(code))
        os.replace(f"{output}.rc.tmp", f"{output}.rc")


_outputs: dict[int, str] = {}
WARM = (
    "alembic.command",
    "alembic.runtime.migration",
    "alembic.script",
    "prefect.artifacts",
    "prefect.client.orchestration",
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect.logging.handlers",
    "sqlalchemy.dialects.sqlite",
    "stockbridge.config.loader",
    "stockbridge.integrations.shopfactory.steps",
    "stockbridge.ledger.ledger",
    "stockbridge.locations.local",
    "tasks.apply",
    "tasks.collect",
    "tasks.report",
)
"""Modules a run imports on its way: imported once here, not in every child."""


def main() -> int:
    sys.path.insert(0, os.getcwd())
    import flows.shopfactory  # noqa: F401 (warm: Prefect, pandas, pyarrow, SQLAlchemy)
    import stockbridge.cli
    import stockbridge.ledger.ledger
    import tasks.apply  # noqa: F401

    for name in filter(None, os.environ.get("SB_FORK_WARM", "").split(",")):
        importlib.import_module(name.strip())
    signal.signal(signal.SIGCHLD, _reap)
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
            os.setsid()
            fd = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            sys.stdin.close()
            for name in request.get("unset", []):
                os.environ.pop(name, None)
            os.environ.update(request.get("env", {}))
            code = 70
            try:
                if request.get("tracer"):
                    module, _, function = request["tracer"].partition(":")
                    getattr(importlib.import_module(module), function)(request["argv"])
                code = stockbridge.cli.main(request["argv"])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _outputs[pid] = request["output"]
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        print(json.dumps({"pid": pid}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
