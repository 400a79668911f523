"""What every store file is checked for beyond its shape, for any integration: the role of
each location key, what the text of a location says wrongly for that role, what this
computer's own files say (without connecting anywhere), and locations store files must not
share. ``validate`` runs them all; ``serve`` can call :func:`shared_locations` across the
files it serves.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from stockbridge.config.locations import LocationConfig
from stockbridge.config.messages import Problem, key_path, missing_file, missing_folder
from stockbridge.config.models import (
    INPUT_FILE,
    INPUT_FOLDER,
    OUTPUT_FILE,
    OUTPUT_FOLDER,
    StoreBase,
)
from stockbridge.integrations import integrations


def store_locations(store: BaseModel) -> list[tuple[tuple, str, LocationConfig]]:
    """Every location of a store file: (key parts, role, location), for any integration.

    The role comes from :attr:`StoreBase.location_roles` by key (``import`` is an input
    folder, ``export`` an output file, ...); a key it does not list has the role ``""``.
    """
    roles = getattr(type(store), "location_roles", {})
    found: list[tuple[tuple, str, LocationConfig]] = []
    for name, info in type(store).model_fields.items():
        key = info.alias or name
        value = getattr(store, name)
        role = roles.get(key, "")
        if isinstance(value, LocationConfig):
            found.append(((key,), role, value))
        elif isinstance(value, list | tuple):
            items = [v for v in value if isinstance(v, LocationConfig)]
            for index, item in enumerate(items):
                parts = (key, index) if len(items) > 1 else (key,)
                found.append((parts, role, item))
    return found


def location_shape_problems(path: Path, data: dict[str, Any]) -> list[Problem]:
    """What the text of a location says wrongly for its role: a file's path that names a
    folder (``export: .../export/`` would write a file called ``export``). Read from the
    file's own values, so it is said even when other keys are wrong."""
    problems = []
    integration = integrations().get(str(data.get("integration")))
    roles = integration.config.location_roles if integration else StoreBase.location_roles
    for key, role in roles.items():
        if role not in (INPUT_FILE, OUTPUT_FILE):
            continue
        value = data.get(key)
        url = value.get("url") if isinstance(value, dict) else value
        if isinstance(url, str) and url.rstrip().endswith(("/", "\\")):
            problems.append(
                Problem(
                    path,
                    key,
                    f"'{url.strip()}' ends in '/', which names a folder; give the file's"
                    " own path, like .../export/articles.txt",
                )
            )
    return problems


def local_problems(path: Path, store: BaseModel) -> list[Problem]:
    """What this computer's own files say, checked without connecting anywhere: local input
    folders and files exist, outputs are not the wrong kind of thing. Remote locations are
    ``stockbridge doctor``'s and the run's to reach."""
    problems = []
    for parts, role, location in store_locations(store):
        if location.scheme != "file" or not role:
            continue
        local = location.local_path
        key = key_path(parts)
        if role == INPUT_FOLDER and not local.is_dir():
            message = f"{local} is a file, not a folder" if local.exists() else None
            problems.append(Problem(path, key, message or missing_folder(str(local))))
        elif role == INPUT_FILE and not local.is_file():
            message = f"{local} is a folder, not a file" if local.exists() else None
            problems.append(Problem(path, key, message or missing_file(str(local))))
        elif role == OUTPUT_FILE and local.is_dir():
            problems.append(
                Problem(path, key, f"{local} is a folder; give the file's own path inside it")
            )
        elif role == OUTPUT_FOLDER and local.exists() and not local.is_dir():
            problems.append(Problem(path, key, f"{local} is a file, not a folder"))
    return problems


def shared_locations(stores: Iterable[tuple[Path, BaseModel]]) -> list[Problem]:
    """Locations two store files (or two keys of one) must not share, as problems.

    One store's run would overwrite the other's export, take the other's input files, or
    read error files as input. Refused: the same import, export or errors location twice,
    and an export or errors location inside a folder some store imports from. Used by
    ``validate`` across the files it is given and by ``serve`` across the files it serves.
    """
    seen: dict[tuple[str, str], tuple[Path, str, str]] = {}
    imports: dict[str, tuple[Path, str]] = {}
    problems: list[Problem] = []
    entries = [
        (path, parts, role, location)
        for path, store in stores
        for parts, role, location in store_locations(store)
        if role in (INPUT_FOLDER, OUTPUT_FILE, OUTPUT_FOLDER) and parts[0] != "archive"
    ]
    for path, parts, role, location in entries:
        if role == INPUT_FOLDER:
            imports.setdefault(location_identity(location), (path, key_path(parts)))
    for path, parts, role, location in entries:
        key = key_path(parts)
        kind = "file" if role == OUTPUT_FILE else "folder"
        identity = location_identity(location)
        other = seen.get((kind, identity))
        if other is not None:
            where = "this file" if other[0] == path else str(other[0])
            problems.append(
                Problem(
                    path,
                    key,
                    f"{location.display} is also {other[1]} of {where}; each store needs its"
                    " own, or one run takes or overwrites the other's files",
                )
            )
            continue
        seen[(kind, identity)] = (path, key, role)
        if role == INPUT_FOLDER:
            continue
        folder = identity.rsplit("/", 1)[0] if role == OUTPUT_FILE else identity
        scanned = imports.get(folder)
        if scanned is not None:
            where = "this file" if scanned[0] == path else str(scanned[0])
            problems.append(
                Problem(
                    path,
                    key,
                    f"{location.display} is inside {scanned[1]} of {where}, a folder read for"
                    " input: its files would be read as input; put it elsewhere",
                )
            )
    return problems


def location_identity(location: LocationConfig) -> str:
    """One spelling per place: the resolved local path, or scheme family, host, port and
    normalised path (``ftp`` and ``ftps`` on one server are one place)."""
    if location.scheme == "file":
        return os.path.normcase(str(location.local_path.resolve())).rstrip("/\\")
    parts = urlsplit(location.url)
    family = {"ftps": "ftp"}.get(location.scheme, location.scheme)
    host = (parts.hostname or "").lower()
    if location.scheme == "s3":
        host = f"{location.endpoint_url or ''}|{host}"
    port = location.port or parts.port or ""
    folder = posixpath.normpath("/" + parts.path.lstrip("/")).rstrip("/")
    return f"{family}://{host}:{port}{folder}"
