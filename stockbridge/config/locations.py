"""Where files are read from and written to: a URL or path plus backend options."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

SUPPORTED_SCHEMES = ("file", "ftp", "ftps", "s3", "sftp")
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"

_WINDOWS_PATH = re.compile(r"^(?:[A-Za-z]:(?:[\\/]|$)|\\\\)")
"""``C:\\…``, ``C:/…``, ``C:`` and UNC ``\\\\server\\share``: local paths on Windows, never
a URL of scheme ``c``."""
_FILE_URL_DRIVE = re.compile(r"^/[A-Za-z]:[\\/]")
"""The path of ``file:///C:/…``, whose leading slash is not part of the Windows path."""
_SHA256_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}=?$")


class LocationConfig(BaseModel):
    """A folder or file reachable through fsspec.

    In YAML a location is either a plain string (``~/Dropbox/stock/export/``,
    ``ftp://ftp.example.com/outbox/``, ``s3://bucket/prefix/``) or a mapping with ``url`` and the
    options below. Credentials belong in the options (usually as ``${ENV_VAR}``), never in the
    URL, so that :attr:`display` can be shown anywhere.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="path or URL: file, ftp, ftps, s3 or sftp")
    username: str | None = None
    password: SecretStr | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    tls: bool = Field(default=False, description="FTP only: explicit TLS (AUTH TLS), as ftps://")
    ca_file: str | None = Field(default=None, description="CA bundle used to verify the server")
    verify: bool = Field(
        default=True, description="verify the server's TLS certificate or SSH host key"
    )
    timeout: float = Field(default=30.0, gt=0, description="seconds before a network call fails")
    endpoint_url: str | None = Field(default=None, description="S3: any S3-compatible endpoint")
    region: str | None = None
    key: SecretStr | None = Field(default=None, description="S3 access key id")
    secret: SecretStr | None = Field(default=None, description="S3 secret access key")
    key_file: str | None = Field(default=None, description="SFTP private key file")
    known_hosts: str | None = Field(
        default=None, description=f"SFTP: OpenSSH known_hosts file; default {DEFAULT_KNOWN_HOSTS}"
    )
    host_key: str | None = Field(
        default=None, description="SFTP: the server's key fingerprint, SHA256:… (pins it)"
    )

    @field_validator("url")
    @classmethod
    def _url_is_supported(cls, url: str) -> str:
        url = url.strip()
        if not url:
            raise ValueError("is empty; give a folder path or a URL")
        scheme = _scheme(url)
        if scheme not in SUPPORTED_SCHEMES:
            raise ValueError(
                f"scheme '{scheme}://' is not supported; use a local path or one of "
                + ", ".join(f"{s}://" for s in SUPPORTED_SCHEMES[1:])
            )
        parts = urlsplit(url) if scheme != "file" else None
        if parts is not None and parts.password:
            raise ValueError(
                "has a password inside the URL; move it to the 'password' key as"
                " password: ${ENV_VAR} so it never shows in logs"
            )
        return url

    @field_validator("ca_file", "key_file", "known_hosts")
    @classmethod
    def _file_exists(cls, value: str | None) -> str | None:
        """A missing certificate, key or known_hosts file is found by ``validate``, not by the
        first run at 3 a.m.; checked where the store file is loaded, without connecting."""
        if value is None:
            return None
        value = value.strip()
        if not value:
            raise ValueError("is empty; give the path of a file or remove the key")
        path = expand_path(value)
        if path.is_dir():
            raise ValueError(f"{path} is a folder, not a file")
        if not path.exists():
            raise ValueError(f"no such file: {path}")
        return value

    @field_validator("host_key")
    @classmethod
    def _fingerprint_format(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not _SHA256_FINGERPRINT.match(value):
            raise ValueError(
                "is not a host key fingerprint; give it as OpenSSH prints it: SHA256: and 43"
                " base64 characters (ssh-keygen -lf KEY.pub, or the one a refused connection"
                " names)"
            )
        return value.rstrip("=")

    @model_validator(mode="after")
    def _options_fit_the_scheme(self) -> LocationConfig:
        if self.tls and self.scheme != "ftp":
            raise ValueError("'tls' applies to ftp:// locations only")
        for option in ("known_hosts", "host_key"):
            if getattr(self, option) is not None and self.scheme != "sftp":
                raise ValueError(f"'{option}' applies to sftp:// locations only")
        if self.host_key is not None and self.known_hosts is not None:
            raise ValueError(
                "give either 'host_key' (one pinned key) or 'known_hosts' (a file), not both"
            )
        if self.host_key is not None and not self.verify:
            raise ValueError(
                "'host_key' pins the server's key and 'verify: false' ignores it;"
                " remove one of them"
            )
        return self

    @property
    def scheme(self) -> str:
        return _scheme(self.url)

    @property
    def display(self) -> str:
        """The URL with any user name removed: safe for logs, artifacts and the ledger."""
        if self.scheme == "file":
            return str(self.local_path)
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))

    @property
    def local_path(self) -> Path:
        """Absolute local path (``file`` locations only).

        ``file:///C:/stock`` is ``C:/stock``; a Windows path read on another system is only
        a (non-existent) relative name there, never a URL.
        """
        path = self.url
        if path[:7].lower() == "file://":
            path = path[7:]
            if _FILE_URL_DRIVE.match(path):
                path = path[1:]
        return expand_path(path).absolute()

    @property
    def known_hosts_path(self) -> str:
        """The known_hosts file as the user wrote it (for messages); the default if unset."""
        return self.known_hosts or DEFAULT_KNOWN_HOSTS

    @classmethod
    def coerce(cls, value: object) -> object:
        """Accept the plain-string shorthand for ``{url: ...}``."""
        return {"url": value} if isinstance(value, str) else value


def expand_path(path: str) -> Path:
    """``~`` expanded (``%USERPROFILE%`` on Windows), like every local path in a store file."""
    return Path(os.path.expanduser(path))


def _scheme(url: str) -> str:
    if "://" not in url or _WINDOWS_PATH.match(url):
        return "file"
    return url.split("://", 1)[0].lower()
