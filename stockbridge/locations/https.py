"""A file read from an ``https://`` URL (a web shop's live stock file), through fsspec's HTTP
filesystem.

* Read only: a web server is not a place stockbridge publishes to, so every write refuses
  with a sentence that says where to publish instead.
* TLS is verified by default, against the system's CAs or ``ca_file``; ``verify: false``
  is allowed for a broken server and warns in every run.
* ``username``/``password`` are sent as HTTP basic authentication, never in the URL.
* Every read asks caches for a fresh copy (``Cache-Control: no-cache``): a stock level read
  from a stale proxy copy would be a web sale missed.
* A body larger than :data:`MAX_BYTES` is refused: a remote answer is bounded.
"""

from __future__ import annotations

import io
import logging
import posixpath
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import IO, Any
from urllib.parse import urlsplit

from pydantic import ValidationError, field_validator

from stockbridge.config.locations import LocationConfig, expand_path
from stockbridge.errors import LocationError
from stockbridge.locations.base import Location, RemoteFile, _describe

logger = logging.getLogger("stockbridge.locations")

MAX_BYTES = 64 * 2**20
"""The largest file read from a web server; a shop's stock file is far smaller."""
READ_BLOCK = 2**20


class ReadableLocationConfig(LocationConfig):
    """A location that may also be an ``https://`` URL (read only).

    For the keys that only read a file (a web shop's live stock levels): every scheme of
    :class:`LocationConfig`, plus ``https``. Plain ``http://`` is refused: a stock file read
    in clear text could be altered on the way.
    """

    @field_validator("url")
    @classmethod
    def _url_is_supported(cls, url: str) -> str:
        url = url.strip()
        if "://" in url and url.split("://", 1)[0].lower() == "https":
            parts = urlsplit(url)
            if not parts.hostname:
                raise ValueError("names no host; write it like https://shop.example.com/stock.txt")
            if parts.password:
                raise ValueError(
                    "has a password inside the URL; move it to the 'password' key as"
                    " password: ${ENV_VAR} so it never shows in logs"
                )
            return url
        if "://" in url and url.split("://", 1)[0].lower() == "http":
            raise ValueError("plain http:// is not accepted; use https:// (TLS verified)")
        try:
            return LocationConfig.model_validate({"url": url}).url
        except ValidationError as exc:
            error = exc.errors()[0]
            raise ValueError(str(error.get("ctx", {}).get("error", error["msg"]))) from None

    @classmethod
    def coerce(cls, value: object) -> object:
        return {"url": value} if isinstance(value, str) else value


class HTTPSLocation(Location):
    """The folder part of an ``https://`` URL; only :meth:`read_bytes` and friends work."""

    @classmethod
    def open(cls, config: LocationConfig) -> HTTPSLocation:
        import aiohttp
        from fsspec.implementations.http import HTTPFileSystem

        if config.verify:
            context = ssl.create_default_context(
                cafile=str(expand_path(config.ca_file)) if config.ca_file else None
            )
        else:
            context = False
            logger.warning("TLS certificate of %s is NOT verified (verify: false)", config.display)
        client_kwargs: dict[str, Any] = {"timeout": aiohttp.ClientTimeout(total=config.timeout)}
        if config.username is not None:
            password = config.password.get_secret_value() if config.password else ""
            client_kwargs["auth"] = aiohttp.BasicAuth(config.username, password)
        fs = HTTPFileSystem(
            client_kwargs=client_kwargs,
            ssl=context,
            headers={"Cache-Control": "no-cache", "Pragma": "no-cache"},
            skip_instance_cache=True,
        )
        parts = urlsplit(config.url)
        root = f"https://{parts.netloc}{parts.path}"
        return cls(config, fs, root)

    def path(self, name: str) -> str:
        return posixpath.join(self.root, name)

    def _modified(self, entry: dict) -> datetime | None:
        return None

    def list_files(self) -> list[RemoteFile]:
        raise LocationError(
            f"{self.display} is a web address: it can be read as one file, not listed as a"
            " folder; use FTP, SFTP, S3 or a local folder for folders"
        )

    @contextmanager
    def open_read(self, name: str) -> Iterator[IO[bytes]]:
        yield io.BytesIO(self.read_bytes(name))

    def read_bytes(self, name: str) -> bytes:
        url = self.path(name)
        shown = posixpath.join(self.display, name)
        try:
            # A size given skips fsspec's HEAD probe, which turns every failure (an untrusted
            # certificate too) into "not found"; the GET below says what really went wrong.
            with self.fs.open(url, "rb", block_size=0, size=MAX_BYTES) as handle:
                chunks, size = [], 0
                while block := handle.read(READ_BLOCK):
                    chunks.append(block)
                    size += len(block)
                    if size > MAX_BYTES:
                        raise LocationError(
                            f"{shown} is larger than {MAX_BYTES // 2**20} MiB; is it the stock"
                            " file?"
                        )
        except FileNotFoundError:
            raise
        except LocationError:
            raise
        except Exception as exc:
            raise LocationError(f"cannot read {shown}: {_describe_http(exc)}") from exc
        return b"".join(chunks)

    def exists(self, name: str) -> bool:
        try:
            self.read_bytes(name)
        except FileNotFoundError:
            return False
        return True

    def write_atomic(self, name: str, data: bytes) -> str:
        raise self._read_only()

    def move_to(self, name: str, target: Location, target_name: str) -> str:
        raise self._read_only()

    def ensure_folder(self) -> None:
        raise self._read_only()

    def _read_only(self) -> LocationError:
        return LocationError(
            f"{self.display} is a web address stockbridge can only read; give 'publish' an"
            " FTP, SFTP, S3 or folder location"
        )

    def check(self) -> None:
        """An HTTPS location is one file; reading it is the check (see the integration)."""


def _describe_http(exc: BaseException) -> str:
    """One line: the certificate problem, the HTTP status, or the connection error."""
    cause: BaseException | None = exc
    while cause is not None:
        cause = getattr(cause, "certificate_error", None) or cause
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                f"the server's TLS certificate is not trusted ({cause.verify_message}); give"
                " its CA as ca_file"
            )
        cause = cause.__cause__ or cause.__context__
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return f"the server answered HTTP {status} {getattr(exc, 'message', '')}".strip()
    return _describe(exc)
