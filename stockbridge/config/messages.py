"""Sentences about store files said in more than one place, written once.

``validate`` and a run must say the same thing about the same mistake, and name the key the
same way: dots between keys, ``[n]`` only where a key holds several values (``import[1]``
of two import folders; a single ``import:`` is ``import``, however pydantic numbers it).
"""

from __future__ import annotations


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
