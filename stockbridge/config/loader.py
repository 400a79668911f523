"""Reading store files: safe YAML, ``${ENV_VAR}`` substitution, errors that name the key.

The flow receives only the path of a store file and loads it itself, so resolved secrets
never become Prefect parameters (which the server stores and the UI shows).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from stockbridge.config.models import StoreBase
from stockbridge.errors import ConfigError
from stockbridge.integrations import integrations

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_URL_PASSWORD = re.compile(r"(://[^/:@]*):[^/]*@")
"""The password of ``scheme://user:password@host/``, never repeated in an error."""
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a store file, in words a shop owner's technical friend can act on."""

    file: Path
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else str(self.file)
        return f"{where}: {self.message}"


class InvalidStoreFile(ConfigError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def load_store(path: str | Path, environ: dict[str, str] | None = None) -> StoreBase:
    """Load and validate one store file, or raise :class:`InvalidStoreFile`."""
    path = Path(path)
    raw = _read_yaml(path)
    problems: list[Problem] = []
    resolved = _substitute(raw, os.environ if environ is None else environ, path, (), problems)
    if problems:
        raise InvalidStoreFile(problems)
    return _validate(path, resolved)


def store_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders into their YAML files (sorted); keep files as given."""
    found: list[Path] = []
    for item in paths:
        item = Path(item)
        if item.is_dir():
            found.extend(sorted(p for p in item.iterdir() if p.suffix in YAML_SUFFIXES))
        elif item.exists():
            found.append(item)
        else:
            raise ConfigError(f"{item}: no such file or folder")
    return found


def validate_files(paths: list[Path]) -> tuple[list[tuple[Path, StoreBase]], list[Problem]]:
    """Validate many files at once, also checking that store ids are unique."""
    stores: list[tuple[Path, StoreBase]] = []
    problems: list[Problem] = []
    seen: dict[tuple[str, str], Path] = {}
    for path in paths:
        try:
            store = load_store(path)
        except InvalidStoreFile as exc:
            problems.extend(exc.problems)
            continue
        key = (store.store, store.integration)  # type: ignore[attr-defined]
        if key in seen:
            problems.append(
                Problem(path, "store", f"'{store.store}' is already used by {seen[key]}")
            )
            continue
        seen[key] = path
        stores.append((path, store))
    return stores, problems


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidStoreFile([Problem(path, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidStoreFile([Problem(path, "", f"cannot be read ({exc})")]) from None
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise InvalidStoreFile(
            [Problem(path, "", "is nested too deeply to be a store file")]
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        reason = getattr(exc, "problem", None) or "invalid YAML"
        raise InvalidStoreFile(
            [Problem(path, "", f"is not valid YAML at {where}: {reason}")]
        ) from None
    if not isinstance(data, dict):
        raise InvalidStoreFile(
            [Problem(path, "", "must be a mapping of keys (store:, integration:, ...)")]
        )
    return data


MAX_NODES = 10_000
MAX_DEPTH = 32


def _substitute(
    value: Any, environ: dict[str, str], path: Path, key: tuple, problems: list[Problem]
) -> Any:
    """Replace ``${NAME}`` in every string, refusing shapes no store file has.

    YAML aliases can make a small file describe a huge or cyclic tree (an "alias bomb"),
    so the walk is bounded in depth and in the number of values it visits.
    """
    visited = 0

    def walk(node: Any, key: tuple) -> Any:
        nonlocal visited
        visited += 1
        if visited > MAX_NODES or len(key) > MAX_DEPTH:
            raise InvalidStoreFile(
                [Problem(path, "", "is far larger or deeper than a store file (YAML aliases?)")]
            )
        if isinstance(node, dict):
            return {k: walk(v, (*key, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, (*key, i)) for i, v in enumerate(node)]
        if isinstance(node, str):
            return _ENV_REF.sub(lambda match: lookup(match, key), node)
        return node

    def lookup(match: re.Match[str], key: tuple) -> str:
        name = match.group(1)
        if name not in environ:
            problems.append(
                Problem(
                    path,
                    _key_path(key),
                    f"environment variable {name} is not set; export it before running"
                    " (or put it in the service's environment)",
                )
            )
            return ""
        return environ[name]

    return walk(value, key)


def _validate(path: Path, data: dict[str, Any]) -> StoreBase:
    integration = data.get("integration")
    models = {name: i.config for name, i in integrations().items()}
    model = models.get(integration) if isinstance(integration, str) else None
    if model is None:
        known = ", ".join(models)
        message = (
            "is missing; say which integration this store uses"
            if integration is None
            else f"'{integration}' is not an integration stockbridge knows"
        )
        raise InvalidStoreFile([Problem(path, "integration", f"{message}; known: {known}")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidStoreFile([_problem(path, error) for error in exc.errors()]) from None


def _problem(path: Path, error: Any) -> Problem:
    loc = [part for part in error["loc"] if not _is_validator_tag(part)]
    kind = error["type"]
    if kind == "extra_forbidden":
        message = "is not a known key here (check the spelling; unknown keys are refused)"
    elif kind == "missing":
        message = "is required but missing"
    else:
        message = error["msg"].removeprefix("Value error, ")
        if (
            "input" in error
            and kind not in ("model_type",)
            and not isinstance(error["input"], dict | list)
        ):
            message += f" (got {_shown(loc, error['input'])})"
    return Problem(path, _key_path(tuple(loc)), message)


def _is_validator_tag(part: Any) -> bool:
    """pydantic puts validator names such as ``function-after[...]`` in error locations."""
    return isinstance(part, str) and ("[" in part or part == "LocationConfig")


def _shown(loc: list, value: Any) -> str:
    if any(str(part) in ("password", "key", "secret") for part in loc):
        return "a hidden value"
    if isinstance(value, str):
        value = _URL_PASSWORD.sub(r"\1:***@", value)
    return repr(value)


def _key_path(parts: tuple) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        shown = str(part)
        if not shown.isprintable() or not shown:
            shown = repr(shown)  # a key with a line break must not forge another problem line
        text += f".{shown}" if text else shown
    return text


def describe(model: BaseModel) -> str:
    """A one-line summary of a validated store for listings."""
    return f"{model.store} ({model.integration})"  # type: ignore[attr-defined]
