"""Reading store files: safe YAML, ``${ENV_VAR}`` substitution, errors that name the key.

The flow receives only the path of a store file and loads it itself, so resolved secrets
never become Prefect parameters (which the server stores and the UI shows).
"""

from __future__ import annotations

import contextlib
import difflib
import os
import posixpath
import re
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ValidationError

from stockbridge.config.locations import LocationConfig
from stockbridge.config.messages import key_path, missing_file, missing_folder
from stockbridge.config.models import (
    INPUT_FILE,
    INPUT_FOLDER,
    OUTPUT_FILE,
    OUTPUT_FOLDER,
    StoreBase,
)
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


def validate_files(paths: list[Path]) -> tuple[list[tuple[Path, StoreBase]], list[Problem]]:
    """Validate many files at once: each alone (:func:`load_store`, :func:`local_problems`),
    then together (unique store ids, :func:`shared_locations`)."""
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


# -- locations: what each key is for, and what can be checked without connecting ---------


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


MAX_NODES = 10_000
MAX_DEPTH = 32


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
        scalars = _Scalars(text)
        return None, [_problem(path, model, error, scalars, several) for error in exc.errors()]


class _Scalars:
    """The scalars as written in the file, by key path: YAML reads ``no`` as false, and a
    message must say ``no``, the word the user typed. Composed only when a message needs it."""

    def __init__(self, text: str):
        self._text = text
        self._found: dict[tuple, str] | None = None

    def written(self, loc: tuple) -> str | None:
        if self._found is None:
            self._found = {}
            self._visited = 0
            with contextlib.suppress(yaml.YAMLError, RecursionError):
                self._walk(yaml.compose(self._text, Loader=yaml.SafeLoader), ())
        return self._found.get(tuple(loc))

    def _walk(self, node: Any, key: tuple) -> None:
        self._visited += 1
        if self._visited > MAX_NODES or len(key) > MAX_DEPTH:
            return
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    self._walk(v, (*key, k.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                self._walk(v, (*key, i))
        elif isinstance(node, yaml.ScalarNode):
            self._found[key] = node.value  # type: ignore[index]


_WORDING = {
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "string_type": "must be text",
    "list_type": "must be a list (- one per line, or [a, b])",
    "dict_type": "must be a mapping of keys (KEY: value)",
    "model_type": "must be a mapping of keys (KEY: value)",
    "model_attributes_type": "must be a mapping of keys (KEY: value)",
    "too_short": "must not be empty",
    "string_too_short": "must not be empty",
}
_LOCATION_SHAPE = "must be a path or URL, or a mapping with url: and its options"


def _problem(
    path: Path, model: type[BaseModel], error: Any, scalars: _Scalars, several: frozenset
) -> Problem:
    """One pydantic error in our words: never pydantic's own phrasing, and the key as the
    file writes it."""
    raw_loc = tuple(error["loc"])
    loc = tuple(part for part in raw_loc if not _is_validator_tag(part))
    kind = error["type"]
    value = error.get("input")
    key = key_path(loc, several)
    if kind == "extra_forbidden":
        names = _known_keys(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else "check the spelling"
        return Problem(path, key, f"is not a known key here; {hint} (unknown keys are refused)")
    if kind == "missing":
        return Problem(path, key, "is required but missing")
    ctx = error.get("ctx") or {}
    if kind in ("model_type", "model_attributes_type", "dict_type") and "LocationConfig" in str(
        error.get("msg", "")
    ):
        message = _LOCATION_SHAPE
    elif kind == "literal_error":
        message = f"must be {ctx.get('expected', 'one of the allowed values')}"
    elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {
            "greater_than_equal": ("at least", "ge"),
            "greater_than": ("more than", "gt"),
            "less_than_equal": ("at most", "le"),
            "less_than": ("less than", "lt"),
        }[kind]
        message = f"must be {words[0]} {ctx.get(words[1], '')}".rstrip()
    elif kind in _WORDING:
        message = _WORDING[kind]
    else:
        message = _plain(error["msg"])
    if isinstance(value, bool) and kind != "bool_type":
        written = scalars.written(loc) or str(value).lower()
        name = next((str(p) for p in reversed(loc) if isinstance(p, str)), "key")
        message += (
            f"; YAML read {written} as {str(value).lower()} (unquoted yes, no, on and off are"
            f" booleans): to give a word, write it in quotes, like {name}: '{written}'"
        )
    elif "input" in error and not isinstance(value, dict | list) and kind not in _NO_GOT:
        shown = _shown(loc, value)
        if shown not in message and str(value) not in message:
            message += f" (got {shown})"
    return Problem(path, key, message)


_NO_GOT = ("model_type", "model_attributes_type", "dict_type")


def _plain(message: str) -> str:
    """Our own validators' messages as they are; anything else from pydantic reworded."""
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = message.replace("Input should be", "must be").replace("Input is", "is")
    for tail in (", unable to interpret input", ", unable to parse string as"):
        if tail in message:
            message = message.split(tail)[0]
    return message


def _known_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys the (sub-)model at ``loc`` accepts, for "did you mean"."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields:
            return []
        info = next((f for n, f in fields.items() if (f.alias or n) == part), None)
        if info is None:
            return []
        current = _model_in(info.annotation)
        if current is None:
            return []
    fields = getattr(current, "model_fields", {})
    return [info.alias or name for name, info in fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``X``, ``X | None``, ``list[X]``, ``Annotated[X, ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _is_validator_tag(part: Any) -> bool:
    """pydantic puts validator names such as ``function-after[...]`` in error locations."""
    return isinstance(part, str) and ("[" in part or part == "LocationConfig")


def _shown(loc: tuple, value: Any) -> str:
    if any(str(part) in ("password", "key", "secret") for part in loc):
        return "a hidden value"
    if isinstance(value, str):
        value = _URL_PASSWORD.sub(r"\1:***@", value)
    return repr(value)


def describe(model: BaseModel) -> str:
    """A one-line summary of a validated store for listings."""
    return f"{model.store} ({model.integration})"  # type: ignore[attr-defined]
