"""Reading store files: safe YAML, ``${ENV_VAR}`` substitution, errors that name the key.

The flow receives only the path of a store file and loads it itself, so resolved secrets
never become Prefect parameters (which the server stores and the UI shows).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from stockbridge.config.checks import (
    local_problems,
    location_shape_problems,
    shared_locations,
)
from stockbridge.config.messages import (
    MAX_DEPTH,
    MAX_NODES,
    Problem,
    Scalars,
    key_path,
    pydantic_problem,
)
from stockbridge.config.models import StoreBase
from stockbridge.errors import ConfigError
from stockbridge.integrations import integrations

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
YAML_SUFFIXES = (".yaml", ".yml")


class InvalidStoreFile(ConfigError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def load_store(path: str | Path, environ: dict[str, str] | None = None) -> StoreBase:
    """Load and validate one store file, or raise :class:`InvalidStoreFile` with every problem.

    Everything that can be judged from the text alone is judged here (so ``run`` refuses
    what ``validate`` refuses); :func:`local_problems` adds what needs a look at this
    computer's files, and :func:`shared_locations` what needs the other store files.
    """
    path = Path(path)
    text, raw = _read_yaml(path)
    problems: list[Problem] = []
    several = _several(raw)
    resolved = _substitute(raw, os.environ if environ is None else environ, path, several, problems)
    store, found = _validate(path, resolved, text, several)
    problems += found
    problems += location_shape_problems(path, resolved)
    if problems or store is None:
        raise InvalidStoreFile(_unique(problems))
    return store


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


def validate_files(
    paths: list[Path], keep_local: bool = False
) -> tuple[list[tuple[Path, StoreBase]], list[Problem]]:
    """Validate many files at once: each alone (:func:`load_store`, :func:`local_problems`),
    then together (unique store ids, :func:`shared_locations`).

    ``keep_local`` keeps a store whose only problems are on this machine's disk (a missing
    folder or file) among the stores returned: ``doctor`` checks it further and says more."""
    stores: list[tuple[Path, StoreBase]] = []
    problems: list[Problem] = []
    seen: dict[tuple[str, str], Path] = {}
    for path in paths:
        try:
            store = load_store(path)
        except InvalidStoreFile as exc:
            problems.extend(exc.problems)
            continue
        local = local_problems(path, store)
        if local:
            problems.extend(local)
            if not keep_local:
                continue
        key = (store.store, store.integration)  # type: ignore[attr-defined]
        if key in seen:
            problems.append(
                Problem(path, "store", f"'{store.store}' is already used by {seen[key]}")
            )
            continue
        seen[key] = path
        stores.append((path, store))
    shared = shared_locations(stores)
    refused = {problem.file for problem in shared}
    return [s for s in stores if s[0] not in refused], problems + shared


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def _read_yaml(path: Path) -> tuple[str, Any]:
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
    return text, data


def _substitute(
    value: Any,
    environ: dict[str, str],
    path: Path,
    several: frozenset[tuple],
    problems: list[Problem],
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
            if "${" in _ENV_REF.sub("", node):
                problems.append(
                    Problem(
                        path,
                        key_path(key, several),
                        "has a '${' that is not a whole ${NAME} reference (a closing '}'"
                        " missing?); write it like ${FTP_PASSWORD}",
                    )
                )
            return _ENV_REF.sub(lambda match: lookup(match, key), node)
        return node

    def lookup(match: re.Match[str], key: tuple) -> str:
        name = match.group(1)
        if name not in environ:
            problems.append(
                Problem(
                    path,
                    key_path(key, several),
                    f"environment variable {name} is not set; export it before running"
                    " (or put it in the service's environment)",
                )
            )
            return ""
        return environ[name]

    return walk(value, ())


def _several(data: Any) -> frozenset[tuple]:
    """The keys whose value is a list of more than one item: only those get ``[n]``.

    Bounded like :func:`_substitute` (which refuses what is too large after this)."""
    found: set[tuple] = set()
    todo: list[tuple[Any, tuple]] = [(data, ())]
    visited = 0
    while todo and visited <= MAX_NODES:
        node, key = todo.pop()
        visited += 1
        if len(key) > MAX_DEPTH:
            continue
        if isinstance(node, dict):
            todo.extend((v, (*key, k)) for k, v in node.items())
        elif isinstance(node, list):
            if len(node) > 1:
                found.add(key)
            todo.extend((v, (*key, i)) for i, v in enumerate(node))
    return frozenset(found)


def _validate(
    path: Path, data: dict[str, Any], text: str, several: frozenset[tuple]
) -> tuple[StoreBase | None, list[Problem]]:
    """The store's model and the problems found; with an unknown integration, the file is
    still read against the closest one (or what every integration shares), so one typo in
    ``integration:`` does not hide the rest."""
    integration = data.get("integration")
    models = {name: i.config for name, i in integrations().items()}
    model = models.get(integration) if isinstance(integration, str) else None
    if model is not None:
        return _against(path, model, data, text, several)
    known = ", ".join(models)
    if integration is None:
        message = f"is missing; say which integration this store uses (known: {known})"
        close: list[str] = []
    else:
        close = difflib.get_close_matches(str(integration), list(models), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        message = f"'{integration}' is not an integration stockbridge knows; {hint}(known: {known})"
    problems = [Problem(path, "integration", message)]
    candidates = close or list(models)
    found: list[set[Problem]] = []
    for name in candidates:
        _, others = _against(path, models[name], {**data, "integration": name}, text, several)
        found.append(set(others))
    common = set.intersection(*found) if found else set()
    if close:
        common = found[0]
    return None, problems + sorted(common, key=lambda p: p.key)


def _against(
    path: Path, model: type[StoreBase], data: dict[str, Any], text: str, several: frozenset
) -> tuple[StoreBase | None, list[Problem]]:
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        scalars = Scalars(text)
        return None, [
            pydantic_problem(path, model, error, scalars, several) for error in exc.errors()
        ]


def describe(model: BaseModel) -> str:
    """A one-line summary of a validated store for listings."""
    return f"{model.store} ({model.integration})"  # type: ignore[attr-defined]
