"""How store-file problems are said: one :class:`Problem` per mistake, pydantic's errors
reworded (never "Input should be…"; YAML booleans explained; "did you mean"), and the
sentences said in more than one place, written once.

``validate`` and a run must say the same thing about the same mistake, and name the key the
same way: dots between keys, ``[n]`` only where a key holds several values (``import[1]``
of two import folders; a single ``import:`` is ``import``, however pydantic numbers it).
"""

from __future__ import annotations

import contextlib
import difflib
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

_URL_PASSWORD = re.compile(r"(://[^/:@]*):[^/]*@")
"""The password of ``scheme://user:password@host/``, never repeated in an error."""
MAX_NODES = 10_000
MAX_DEPTH = 32


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a store file, in words a shop owner's technical friend can act on."""

    file: Path
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else str(self.file)
        return f"{where}: {self.message}"


def key_path(parts: tuple | list, several: frozenset[tuple] | None = None) -> str:
    """``("import", 0, "password")`` -> ``import.password`` (or ``import[0].password`` when
    the value at ``("import",)`` is in ``several``, the keys that hold more than one value).

    ``several=None`` keeps every index.
    """
    text = ""
    for depth, part in enumerate(parts):
        if isinstance(part, int):
            if several is None or tuple(parts[:depth]) in several:
                text += f"[{part}]"
            continue
        shown = str(part)
        if not shown.isprintable() or not shown:
            shown = repr(shown)  # a key with a line break must not forge another problem line
        text += f".{shown}" if text else shown
    return text


def import_key(index: int, count: int) -> str:
    """The key of import location ``index`` of ``count``, as :func:`key_path` writes it."""
    return "import" if count <= 1 else f"import[{index}]"


def missing_folder(shown: str) -> str:
    return f"folder {shown} does not exist; create it or correct the path"


def missing_file(shown: str) -> str:
    return f"file {shown} does not exist; correct the path or put the file there"


# -- pydantic's errors in our words ------------------------------------------------------


class Scalars:
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


def pydantic_problem(
    path: Path, model: type[BaseModel], error: Any, scalars: Scalars, several: frozenset
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
