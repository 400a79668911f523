"""XML from the network, parsed as hostile input: no DTD, no entities, bounded size and depth.

The rules of defusedxml, on the standard library's expat: a document type declaration, an
entity declaration or an external reference ends the parse (an XML bomb is refused before
one entity is expanded); answers above :data:`MAX_BYTES` are refused before parsing; deeper
than :data:`MAX_DEPTH` elements is refused while parsing.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.parsers import expat

MAX_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64


class UnsafeXML(ValueError):
    """Not well-formed, too large, or using a feature hostile input uses (DTD, entities)."""


class MalformedXML(UnsafeXML):
    """Not well-formed: typically an answer cut short, worth asking again."""


def parse(data: bytes, max_bytes: int = MAX_BYTES) -> ET.Element:
    if len(data) > max_bytes:
        raise UnsafeXML(f"is {len(data):,} bytes, above the {max_bytes:,} allowed")
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    depth = 0

    def refuse(*_: object) -> None:
        raise UnsafeXML("declares a DTD or entities, which stockbridge never accepts")

    def start(tag: str, attributes: dict[str, str]) -> None:
        nonlocal depth
        depth += 1
        if depth > MAX_DEPTH:
            raise UnsafeXML(f"nests elements deeper than {MAX_DEPTH}")
        builder.start(tag, attributes)

    def end(tag: str) -> None:
        nonlocal depth
        depth -= 1
        builder.end(tag)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.NotationDeclHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise MalformedXML(f"is not well-formed XML ({expat.ErrorString(exc.code)})") from None
    return builder.close()
