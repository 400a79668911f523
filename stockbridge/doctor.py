"""What ``stockbridge doctor`` reports: one :class:`Check` per thing that must hold.

Every store gets the shared checks (locations reachable, output folders writable, the ledger,
certificates, the Prefect API); an integration adds its own through ``Integration.doctor``,
a function ``checks(store, path) -> Iterable[Check]``. A check never raises: what fails is
its ``detail``, one sentence saying what to fix, and never holds a secret.
"""

from __future__ import annotations

import os
import socket
import ssl
import uuid
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from stockbridge.config.locations import LocationConfig
from stockbridge.errors import StockbridgeError


@dataclass(frozen=True)
class Check:
    name: str
    """What was checked, in words: ``till database reachable``, ``import location``."""
    ok: bool
    detail: str
    """What holds (``3 files, listable``), or one sentence on what to fix."""
    warning: bool = False
    """Holds, but needs attention soon (a certificate expiring in 10 days): shown, exit 0."""


# -- the shared checks ----------------------------------------------------------------------

FOLDER_KEYS = frozenset({"import", "errors", "archive", "log_folder"})
"""Location keys that name folders; every other location names a file."""
OUTPUT_KEYS = frozenset({"errors", "archive", "export", "log_folder"})
"""Location keys a run writes to: their folder must take a file."""
EXPIRY_WARNING_DAYS = 14
PROBE_PREFIX = ".stockbridge-doctor-"


def store_locations(store: BaseModel, prefix: str = "") -> list[tuple[str, LocationConfig]]:
    """Every location of a store file with its key path (``import[1]``, ``links.folder``)."""
    found: list[tuple[str, LocationConfig]] = []
    for name, info in type(store).model_fields.items():
        key = f"{prefix}{info.alias or name}"
        value = getattr(store, name)
        if isinstance(value, LocationConfig):
            found.append((key, value))
        elif isinstance(value, list | tuple):
            locations = [v for v in value if isinstance(v, LocationConfig)]
            for index, location in enumerate(locations):
                found.append((key if len(locations) == 1 else f"{key}[{index}]", location))
        elif isinstance(value, BaseModel):
            found.extend(store_locations(value, f"{key}."))
    return found


def location_checks(key: str, config: LocationConfig) -> list[Check]:
    """Reachable and listable; writable for outputs; the TLS certificate's days left."""
    from stockbridge.locations import open_file, open_folder

    root = key.split("[")[0].split(".")[0]
    is_folder = root in FOLDER_KEYS
    name = f"{key} {'folder' if is_folder else 'file'}"
    try:
        if is_folder:
            folder, file_name = open_folder(config), None
        else:
            folder, file_name = open_file(config)
    except StockbridgeError as exc:
        return [Check(name, False, str(exc))]
    except Exception as exc:  # a doctor reports, it never raises
        return [Check(name, False, f"cannot open {config.display}: {_describe(exc)}")]
    checks = []
    try:
        files = folder.list_files()
        if file_name is None:
            checks.append(Check(name, True, f"{config.display} reachable, {len(files)} file(s)"))
        elif any(f.name == file_name for f in files):
            checks.append(Check(name, True, f"{config.display} reachable, the file is there"))
        elif root in OUTPUT_KEYS:
            checks.append(Check(name, True, f"{folder.display} reachable; the run writes it"))
        else:
            checks.append(
                Check(
                    name,
                    False,
                    f"{config.display} is not there: check the path, or put the file there",
                )
            )
        if root in OUTPUT_KEYS:
            checks.append(_probe(name, folder))
        certificate = _ftps_certificate(name, folder)
        if certificate is not None:
            checks.append(certificate)
    except StockbridgeError as exc:
        checks.append(Check(name, False, str(exc)))
    except Exception as exc:
        checks.append(Check(name, False, f"cannot use {config.display}: {_describe(exc)}"))
    return checks


def _probe(name: str, folder: Any) -> Check:
    """Write a small file and remove it: what a run's outputs need."""
    probe = f"{PROBE_PREFIX}{uuid.uuid4().hex[:8]}.tmp"
    what = f"{name} writable"
    try:
        existed = folder.fs.exists(folder.root)
        folder.ensure_folder()
        folder.write_atomic(probe, b"stockbridge doctor probe\n")
    except StockbridgeError as exc:
        return Check(what, False, f"{exc}; give the account write access there")
    except Exception as exc:
        return Check(
            what,
            False,
            f"cannot write in {folder.display}: {_describe(exc)}; give the account write access",
        )
    try:
        folder.fs.rm(folder.path(probe))
    except Exception as exc:
        return Check(
            what, False, f"wrote {probe} in {folder.display} but cannot remove it: {_describe(exc)}"
        )
    if not existed:  # leave things as found: the first run creates the folder itself
        with suppress(Exception):
            folder.fs.rmdir(folder.root)
        return Check(what, True, f"{folder.display} does not exist yet; it can be created there")
    return Check(what, True, f"a probe file was written in {folder.display} and removed")


def _ftps_certificate(name: str, folder: Any) -> Check | None:
    """Days left on the certificate of an FTPS connection already open (verified by it)."""
    connection = getattr(getattr(folder, "fs", None), "ftp", None)
    sock = getattr(connection, "sock", None)
    if not isinstance(sock, ssl.SSLSocket):
        return None
    return certificate_check(f"{name} certificate", sock.getpeercert(), folder.display)


def https_certificate(
    name: str, url: str, ca_file: str | None = None, verify: bool = True, timeout: float = 10
) -> Check:
    """The HTTPS certificate of ``url``: verified, and its days to expiry. For hooks of
    integrations that talk to a web API (a shop, a stock app)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        return Check(name, True, f"{host}: certificate NOT verified (verify: false)", warning=True)
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            return certificate_check(name, tls.getpeercert(), f"{host}:{port}")
    except ssl.SSLCertVerificationError as exc:
        return Check(
            name,
            False,
            f"{host}:{port}: certificate refused ({exc.verify_message}); give its CA as ca_file",
        )
    except OSError as exc:
        return Check(name, False, f"cannot reach {host}:{port}: {_describe(exc)}")


def certificate_check(name: str, certificate: dict, where: str) -> Check:
    expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(certificate["notAfter"]), UTC)
    days = (expires - datetime.now(UTC)).days
    when = f"{expires:%Y-%m-%d}"
    if days < 0:
        return Check(name, False, f"{where}: the certificate expired on {when}; renew it")
    if days < EXPIRY_WARNING_DAYS:
        return Check(
            name, True, f"{where}: valid, expires in {days} day(s) ({when}): renew it", True
        )
    return Check(name, True, f"{where}: valid, expires in {days} day(s) ({when})")


def ledger_check(url: str | None) -> Check:
    """Reachable and migrated, or creatable: read only, nothing is created here."""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import make_url

    from stockbridge.ledger.database import (
        MIGRATIONS,
        create_ledger_engine,
        describe,
        safe_url,
    )
    from stockbridge.runtime import default_ledger_url

    url = url or default_ledger_url()
    shown = safe_url(url)
    try:
        parsed = make_url(url)
    except Exception:
        return Check("ledger", False, f"'{shown}' is not a database URL, like sqlite:///ledger.db")
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        path = Path(parsed.database)
        if not path.exists():
            parent = next((p for p in path.parents if p.exists()), None)
            if parent is None or not os.access(parent, os.W_OK):
                return Check(
                    "ledger", False, f"{path}: cannot be created here ({parent} is read only)"
                )
            return Check("ledger", True, f"{shown} does not exist yet; the first run creates it")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    try:
        engine = create_ledger_engine(url)
    except StockbridgeError as exc:
        return Check("ledger", False, str(exc))
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except Exception as exc:
        return Check("ledger", False, f"cannot reach the ledger at {shown}: {describe(exc)}")
    finally:
        engine.dispose()
    if current == head:
        return Check("ledger", True, f"{shown} reachable, schema up to date ({head})")
    if current is None:
        return Check(
            "ledger", True, f"{shown} reachable and empty; the first run creates the tables"
        )
    return Check(
        "ledger",
        True,
        f"{shown} reachable, schema {current}; the next run migrates it to {head}",
        True,
    )


def prefect_check() -> Check | None:
    """The Prefect API, when one is configured (without one, runs start a temporary one)."""
    import httpx

    from stockbridge.runtime import configured_api_url

    url = configured_api_url()
    if not url:
        return None
    try:
        httpx.get(f"{url.rstrip('/')}/health", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        return Check(
            "Prefect API",
            False,
            f"{url} does not answer ({type(exc).__name__}): start it with `make server`",
        )
    return Check("Prefect API", True, f"{url} answers")


def store_checks(store: Any, path: Path) -> list[Check]:
    """The shared checks of one store, then its integration's own (``Integration.doctor``)."""
    from stockbridge.integrations import get

    checks: list[Check] = []
    for key, location in store_locations(store):
        checks.extend(location_checks(key, location))
    checks.append(ledger_check(store.ledger))
    prefect = prefect_check()
    if prefect is not None:
        checks.append(prefect)
    try:
        hook = get(store.integration).load_doctor()
        if hook is not None:
            checks.extend(hook(store, path))
    except Exception as exc:  # a hook that fails is a failed check
        checks.append(
            Check(f"{store.integration} checks", False, f"could not run: {_describe(exc)}")
        )
    return checks


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
