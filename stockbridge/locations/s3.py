"""S3 and S3-compatible buckets (MinIO, Wasabi, ...), through s3fs.

* Listings are never cached: another program's upload must be seen by the next poll, so the
  filesystem is built with ``use_listings_cache=False`` and every listing asks with
  ``refresh=True``.
* A single PUT is atomic in S3 (readers see the old object or the whole new one), so
  publishing is one ``pipe``; there are no temp objects to clean up.
* A move is copy + delete (S3 has no rename); repeating it after a crash is safe.
* "Folders" are key prefixes: ``ensure_folder`` has nothing to create.
* Credentials are the configured key/secret, else boto's usual chain (environment, profile,
  instance role); anonymous access is never assumed.
"""

from __future__ import annotations

import logging
import posixpath
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from s3fs import S3FileSystem

from stockbridge.config.locations import LocationConfig
from stockbridge.errors import LocationError
from stockbridge.locations.base import (
    Location,
    RemoteFile,
    _application_order,
    _describe,
    is_ignored,
)

logger = logging.getLogger("stockbridge.locations")

SPOOL_IN_MEMORY = 16 * 2**20
"""Downloads larger than this spill from memory to a temporary file."""


class S3Location(Location):
    """A prefix in a bucket; ``root`` is ``bucket/prefix`` (s3fs paths have no scheme)."""

    fs: S3FileSystem

    @classmethod
    def open(cls, config: LocationConfig) -> S3Location:
        """Build the client; nothing is sent until the first operation."""
        parts = urlsplit(config.url)
        bucket = parts.netloc
        if not bucket:
            raise LocationError(f"{config.display} names no bucket; use s3://bucket/prefix/")
        prefix = unquote(parts.path).strip("/")
        client_kwargs: dict[str, Any] = {}
        if config.region:
            client_kwargs["region_name"] = config.region
        if not config.verify:
            client_kwargs["verify"] = False
            logger.warning(
                "TLS certificate of %s (%s) is NOT verified (verify: false)",
                config.display,
                config.endpoint_url or "AWS",
            )
        elif config.ca_file:
            client_kwargs["verify"] = config.ca_file
        fs = S3FileSystem(
            key=config.key.get_secret_value() if config.key else None,
            secret=config.secret.get_secret_value() if config.secret else None,
            endpoint_url=config.endpoint_url,
            anon=False,
            client_kwargs=client_kwargs,
            config_kwargs={
                "connect_timeout": config.timeout,
                "read_timeout": config.timeout,
                # botocore retries throttling and dropped connections; s3fs adds its own.
                "retries": {"max_attempts": 3, "mode": "standard"},
            },
            use_listings_cache=False,
            skip_instance_cache=True,
        )
        fs.retries = 2  # s3fs's own retry loop on top of botocore's (default 5)
        root = f"{bucket}/{prefix}" if prefix else bucket
        return cls(config, fs, root)

    @property
    def bucket(self) -> str:
        return self.root.split("/", 1)[0]

    # -- reading ---------------------------------------------------------------------------

    def list_files(self) -> list[RemoteFile]:
        """Objects directly under the prefix; a missing bucket is an error, not an empty one."""
        try:
            entries = self.fs.ls(self.root, detail=True, refresh=True)
        except FileNotFoundError:
            self._check_bucket()
            return []
        except Exception as exc:
            raise LocationError(f"cannot list {self.display}: {_describe(exc)}") from exc
        files = []
        for entry in entries:
            key = entry["name"]
            if entry.get("type") != "file" or key.endswith("/"):
                continue  # sub-prefixes and "folder" marker objects
            name = posixpath.basename(key)
            if not name or is_ignored(name):
                continue
            files.append(RemoteFile(self._modified(entry), name, int(entry.get("size") or 0)))
        return sorted(files, key=_application_order)

    def _modified(self, entry: dict) -> datetime | None:
        modified = entry.get("LastModified")
        if isinstance(modified, datetime):
            return modified.astimezone(UTC) if modified.tzinfo else modified.replace(tzinfo=UTC)
        return None

    def folder_exists(self) -> bool:
        """S3 has no folders: an empty prefix is indistinguishable from a missing one, so
        only the bucket can be missing (an error, from :meth:`_check_bucket`)."""
        self._check_bucket()
        return True

    def _check_bucket(self) -> None:
        try:
            self.fs.call_s3("head_bucket", Bucket=self.bucket)
        except Exception as exc:
            raise LocationError(
                f"cannot list {self.display}: bucket {self.bucket} cannot be reached"
                f" ({_describe(exc)})"
            ) from exc

    @contextmanager
    def open_read(self, name: str) -> Iterator[IO[bytes]]:
        """Download the whole object first, so that network errors surface here as one error."""
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
            try:
                with self.fs.open(self.path(name), "rb") as remote:
                    shutil.copyfileobj(remote, spool, 2**20)
            except FileNotFoundError:
                raise
            except Exception as exc:
                raise LocationError(
                    f"cannot read {name} from {self.display}: {_describe(exc)}"
                ) from exc
            spool.seek(0)
            yield spool  # type: ignore[misc]

    def exists(self, name: str) -> bool:
        try:
            self.fs.info(self.path(name), refresh=True)
        except FileNotFoundError:
            return False
        except Exception as exc:
            raise LocationError(f"cannot reach {self.display}: {_describe(exc)}") from exc
        return True

    # -- writing ---------------------------------------------------------------------------

    def write_atomic(self, name: str, data: bytes) -> str:
        """One PUT: S3 never shows a partly written object."""
        try:
            self.fs.pipe_file(self.path(name), data)
        except Exception as exc:
            raise LocationError(f"cannot write {name} to {self.display}: {_describe(exc)}") from exc
        return _join(self.display, name)

    def move_to(self, name: str, target: Location, target_name: str) -> str:
        """Server-side copy, then delete; a repeat after a crash copies again or returns."""
        if not (isinstance(target, S3Location) and self._same_account(target)):
            from stockbridge.locations import move_across

            return move_across(self, name, target, target_name, self._delete)
        source, destination = self.path(name), target.path(target_name)
        published = _join(target.display, target_name)
        try:
            try:
                self.fs.copy(source, destination)
            except FileNotFoundError:
                if target.exists(target_name):
                    return published  # moved by an earlier attempt
                raise LocationError(f"cannot move {name}: it is not in {self.display}") from None
            self.fs.rm_file(source)
        except LocationError:
            raise
        except Exception as exc:
            raise LocationError(
                f"cannot move {name} from {self.display} to {published}: {_describe(exc)}"
            ) from exc
        return published

    def _delete(self, name: str) -> None:
        try:
            self.fs.rm_file(self.path(name))
        except FileNotFoundError:
            pass
        except Exception as exc:
            raise LocationError(
                f"cannot delete {name} from {self.display}: {_describe(exc)}"
            ) from exc

    def ensure_folder(self) -> None:
        """Nothing to do: a prefix exists as soon as an object is written under it."""

    def _same_account(self, other: S3Location) -> bool:
        return (self.fs.endpoint_url, self.fs.key, self.fs.secret) == (
            other.fs.endpoint_url,
            other.fs.key,
            other.fs.secret,
        )


def _join(display: str, name: str) -> str:
    return f"{display.rstrip('/')}/{name}"
