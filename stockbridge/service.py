"""Running ``stockbridge serve`` as a system service: the text of a systemd unit.

A shop's Linux box should keep serving after a reboot or a crash without anyone logged in;
systemd does that given a unit file. The unit is generated rather than copied from the docs
so that the interpreter, folder and store paths are the real ones, quoted the way systemd
reads them (Windows uses Task Scheduler instead: docs/windows.md).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

_PLAIN = re.compile(r"[A-Za-z0-9_@+=:,./-]+")
"""Arguments that need no quotes on a systemd ``ExecStart=`` line."""
_USER = re.compile(r"[a-z_][a-z0-9_.-]*[$]?", re.IGNORECASE)
EXIT_MISCONFIGURED = 2
"""``stockbridge serve``'s exit status when it cannot start as configured (no Prefect server,
a wrong command line): restarting cannot help."""


def systemd_unit(paths: list[str], *, python: str, workdir: str, user: str | None = None) -> str:
    """A unit that runs ``python -m stockbridge.cli serve PATHS`` in ``workdir``.

    ``python`` is the virtual environment's interpreter (absolute, as systemd requires);
    relative store paths and the default work folder (``.work/``) are relative to
    ``workdir``. Restarts on failure, but not on exit 2 (misconfigured: it needs a person,
    not a retry loop). ``PREFECT_API_URL`` is left as a hint to fill in: serve refuses to
    start without a Prefect server.
    """
    if not paths:
        raise ValueError("give at least one store file or folder to serve")
    for name, value in (("python", python), ("workdir", workdir)):
        if not PurePosixPath(value).is_absolute():
            raise ValueError(f"{name} must be an absolute path (systemd needs one): {value!r}")
    if user is not None and not _USER.fullmatch(user):
        raise ValueError(f"user {user!r} is not a valid user name")
    for value in (*paths, python, workdir):
        if "\n" in value or "\r" in value or "\x00" in value:
            raise ValueError(f"a path with a line break cannot go in a unit file: {value!r}")
    command = " ".join(_quote(arg) for arg in (python, "-m", "stockbridge.cli", "serve", *paths))
    described = " ".join(paths).replace("%", "%%")
    lines = [
        "[Unit]",
        f"Description=stockbridge: serve the stores in {described}",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        *([f"User={user}"] if user else []),
        f"WorkingDirectory={_escape(workdir)}",
        f"ExecStart={command}",
        "Restart=on-failure",
        "RestartSec=10",
        f"RestartPreventExitStatus={EXIT_MISCONFIGURED}",
        "TimeoutStopSec=60",
        "Environment=PYTHONUNBUFFERED=1",
        "# serve needs a Prefect server; point it at yours (or `prefect config set` it):",
        "# Environment=PREFECT_API_URL=http://127.0.0.1:4200/api",
        "# The work folder (ledger, Prefect state, downloads); default .work/ in WorkingDirectory:",
        "# Environment=STOCKBRIDGE_HOME=/var/lib/stockbridge",
        "# Secrets the store files name as ${NAME}, one NAME=value a line, readable by root only:",
        "# EnvironmentFile=/etc/stockbridge/secrets.env",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return "\n".join(lines)


def _escape(value: str) -> str:
    """systemd expands ``%`` specifiers and ``$`` variables in these settings."""
    return value.replace("%", "%%")


def _quote(arg: str) -> str:
    """One argument as systemd splits ``ExecStart=``: double quotes, C-style escapes."""
    arg = _escape(arg).replace("$", "$$")
    if _PLAIN.fullmatch(arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
