"""Where files are read from and written to: a URL or path plus backend options."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

SUPPORTED_SCHEMES = ("file", "ftp", "ftps", "s3", "sftp")


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
    verify: bool = Field(default=True, description="verify the server's TLS certificate")
    timeout: float = Field(default=30.0, gt=0, description="seconds before a network call fails")
    endpoint_url: str | None = Field(default=None, description="S3: any S3-compatible endpoint")
    region: str | None = None
    key: SecretStr | None = Field(default=None, description="S3 access key id")
    secret: SecretStr | None = Field(default=None, description="S3 secret access key")
    key_file: str | None = Field(default=None, description="SFTP private key file")

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

    @model_validator(mode="after")
    def _tls_only_for_ftp(self) -> LocationConfig:
        if self.tls and self.scheme != "ftp":
            raise ValueError("'tls' applies to ftp:// locations only")
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
        """Absolute local path (``file`` locations only)."""
        path = self.url[len("file://") :] if self.url.startswith("file://") else self.url
        return Path(path).expanduser().absolute()

    @classmethod
    def coerce(cls, value: object) -> object:
        """Accept the plain-string shorthand for ``{url: ...}``."""
        return {"url": value} if isinstance(value, str) else value


def _scheme(url: str) -> str:
    if "://" not in url:
        return "file"
    return url.split("://", 1)[0].lower()
