"""Till labels and cellar names brought to one comparable form.

Pointex labels are typed by bar staff: capitals, no accents, house abbreviations (``CH``,
``DNE``, ``1ER``, ``VV``), the vintage as ``2015``, ``15`` or ``'15``, a format word
(``BTL``, ``MAG``, ``VERRE``) and cut at the till's label width. The cellar (Somm'It) has
full names with accents. Both sides go through :func:`normalise_words`, so whatever one side
abbreviates or accents the other meets in the same spelling; only labels carry a vintage
and a format to take out (:func:`parse_label`), because the cellar has columns for those.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

FORMAT_VOLUMES: dict[str, float | None] = {
    "bottle": 75.0,
    "half": 37.5,
    "magnum": 150.0,
    "jeroboam": 300.0,
    "clavelin": 62.0,
    "pot": 46.0,
    "carafe": None,
    "glass": None,
}
"""Volume in cl implied by a format word; a glass or a carafe is poured from a bottle, so
it implies no cellar volume."""

FORMAT_WORDS: dict[str, str] = {
    **dict.fromkeys(("btl", "btle", "bt", "bout", "bouteille", "blle", "bottle"), "bottle"),
    **dict.fromkeys(("mag", "magnum", "mgm"), "magnum"),
    **dict.fromkeys(("demi", "demie", "half", "fillette", "dbt"), "half"),
    **dict.fromkeys(("jero", "jeroboam"), "jeroboam"),
    **dict.fromkeys(("verre", "vre", "vr", "gl", "glass", "glas", "vrre"), "glass"),
    **dict.fromkeys(("carafe", "pichet", "pich", "carf"), "carafe"),
    "clavelin": "clavelin",
    "pot": "pot",
}
"""Format words as staff type them. A label may hold two (``DEMI BTL``): the more specific
one (not ``bottle``) wins."""

ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "ch": ("chateau",),
    "cht": ("chateau",),
    "chat": ("chateau",),
    "chx": ("chateau",),
    "dom": ("domaine",),
    "dne": ("domaine",),
    "dmn": ("domaine",),
    "dmne": ("domaine",),
    "st": ("saint",),
    "ste": ("sainte",),
    "1er": ("premier", "cru"),
    "1ers": ("premier", "cru"),
    "1e": ("premier", "cru"),
    "1ere": ("premiere",),
    "1st": ("premier", "cru"),
    "gc": ("grand", "cru"),
    "gcc": ("grand", "cru", "classe"),
    "gd": ("grand",),
    "grd": ("grand",),
    "gde": ("grande",),
    "vv": ("vieilles", "vignes"),
    "cdr": ("cotes", "rhone"),
    "cdp": ("chateauneuf", "pape"),
    "cndp": ("chateauneuf", "pape"),
    "bdb": ("blanc", "blancs"),
    "bdn": ("blanc", "noirs"),
    "vt": ("vendanges", "tardives"),
    "sgn": ("selection", "grains", "nobles"),
    "ctes": ("cotes",),
    "cts": ("cotes",),
    "cte": ("cote",),
    "ht": ("haut",),
    "hte": ("haute",),
    "pt": ("petit",),
    "pte": ("petite",),
    "mt": ("mont",),
    "vve": ("veuve",),
    "cuv": ("cuvee",),
    "res": ("reserve",),
    "rsv": ("reserve",),
    "sel": ("selection",),
    "champ": ("champagne",),
    "crem": ("cremant",),
    "bx": ("bordeaux",),
    "bgne": ("bourgogne",),
    "bgn": ("bourgogne",),
    "sup": ("superieur",),
    "rge": ("rouge",),
    "rg": ("rouge",),
    "blc": ("blanc",),
    "bl": ("blanc",),
    "rse": ("rose",),
    "vdf": ("vin", "france"),
}
"""Till abbreviations, expanded on both sides (a cellar may write ``Ch.`` or ``St-Julien``
too). Expansions are already normalised words, with stop words left out."""

STOP_WORDS = frozenset(
    {"de", "du", "des", "la", "le", "les", "l", "d", "et", "en", "au", "aux", "the", "of"}
    | {"di", "del", "della", "dei", "von", "vom", "y", "a", "aoc", "aop", "nv", "sa", "vin"}
)
"""Words too common or too often dropped by staff to tell wines apart: articles and
prepositions (``CH PAPE CLEMENT``), appellation markers, and ``NV``/``SA`` (sans année),
which only say that there is no vintage (so on a label with one, ``SA`` is a word cut short:
``TROBEAUET SA 10`` for Saint-Aubin)."""

_ORDINAL_OR_UNIT = r"(?:er|ere|ers|eme|e|nd|st|cl|l|ml|ans)\b"
_YEAR4 = re.compile(r"^(18|19|20)\d\d$")
_VOLUME = re.compile(r"(?<![\d.,])(\d+(?:[.,]\d+)?)\s*(cl|ml|l|ltr|litre|litres)\b")
_BARE_VOLUME = re.compile(r"(?<![\d.,])(37[.,]5|1[.,]5|0[.,]75|0[.,]375|3[.,]0)(?![\d.,])")
_APOSTROPHE_YEAR = re.compile(r"['’`´](\d\d)\b")
_UNDATED = frozenset({"sa", "nv"})
"""Stop words that say a wine has no vintage (see STOP_WORDS)."""
_MARK = "0000"
"""Stands where an apostrophe vintage was taken out of a label (see parse_label)."""
_LONG_FORMATS = ("verre", "bouteille", "magnum", "demie", "jeroboam", "carafe", "pichet")
_CUT_VOLUMES = frozenset({"75", "37", "50"})
_HALF = re.compile(r"(?<!\d)1/2(?!\d)")
_CH9DP = re.compile(r"\bch\.?\s?9\s?dp\b")
_INITIALS = re.compile(r"\b([a-z])\.\s?([a-z])\b\.?")
_DEMI_SEC = re.compile(r"\bdemi[\s-]*sec\b")
_AGE = re.compile(r"\b(\d{1,3})\s*(?:ans|years|year|yo|y\.o\.)(?![a-z])")


@dataclass(frozen=True)
class ParsedLabel:
    """A till label taken apart: the words that name the wine, and the fields the cellar
    keeps in columns of their own."""

    wine: str
    """Normalised wine words (casefolded, no accents, abbreviations expanded, stop words,
    vintage and format taken out), space separated."""
    vintage: int | None
    """Four-digit year, or None when the label shows none (non-vintage, or cut off)."""
    format: str | None
    """``glass``, ``bottle``, ``half``, ``magnum``, ``jeroboam``, ``carafe``, ``pot``,
    ``clavelin``, or None when the label names no format."""
    volume_cl: float | None
    """Volume in cl, written (``75CL``, ``1.5L``) or implied by the format word."""


def fold(text: str) -> str:
    """Casefold and strip accents (``Côte-Rôtie`` -> ``cote-rotie``), and glue the two
    phrases whose words would otherwise read as a format or a vintage: ``demi-sec`` (a
    sweetness, not a half bottle) and ``20 ans`` (an age, not the 2020 vintage); initials
    (``R.D.``, ``J.J.``) become one word instead of two dropped letters."""
    text = text.replace("œ", "oe").replace("Œ", "oe").replace("æ", "ae").replace("Æ", "ae")
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    folded = _DEMI_SEC.sub("demisec", _CH9DP.sub("cdp", folded))
    folded = _INITIALS.sub(r"\1\2", folded)
    return _AGE.sub(r" \1ans ", folded)


def _split_glued(text: str) -> str:
    """``MARGAUX15`` -> ``margaux 15``, ``2015MAG`` -> ``2015 mag``; ``1ER`` and ``75CL``
    stay whole."""
    text = re.sub(r"(?<=[a-z])(?=\d)", " ", text)
    return re.sub(rf"(?<=\d)(?!{_ORDINAL_OR_UNIT})(?=[a-z])", " ", text)


def _tokens(folded: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", folded)


def expand(tokens: list[str], keep: frozenset[str] = frozenset()) -> list[str]:
    """Expand abbreviations and drop stop words (but those in ``keep``) and single letters
    (``d'Yquem``)."""
    words: list[str] = []
    for index, token in enumerate(tokens):
        expansion = ABBREVIATIONS.get(token)
        if expansion is not None:
            # "1ER CRU" must not become "premier cru cru".
            if expansion[-1] == "cru" and index + 1 < len(tokens) and tokens[index + 1] == "cru":
                expansion = expansion[:-1]
            words.extend(expansion)
        elif (token not in STOP_WORDS or token in keep) and (len(token) > 1 or token.isdigit()):
            words.append(token)
    return words


def normalise_words(text: str) -> list[str]:
    """The comparable words of a cellar name, producer, appellation or colour (no vintage
    or format taken out: the cellar keeps those in columns)."""
    folded = _split_glued(fold(text))
    return [word for word in expand(_tokens(folded)) if word not in FORMAT_WORDS]


def _cut_format(token: str) -> str | None:
    """The format word that ``token`` is the start of (``VER``, ``MAGN``, ``BOUTEI``)."""
    if len(token) < 3 or token in FORMAT_WORDS:
        return None
    return next((word for word in _LONG_FORMATS if word.startswith(token)), None)


def two_digit_year(value: int, today: date | None = None) -> int:
    """``15`` -> 2015, ``98`` -> 1998: the century is the one that makes the vintage no
    later than next year (wine is sold en primeur, never decades ahead)."""
    pivot = ((today or date.today()).year + 1) % 100
    return 2000 + value if value <= pivot else 1900 + value


def parse_label(label: str) -> ParsedLabel:
    """Take a till label apart into wine words, vintage, format and volume.

    The vintage is the last four-digit year (1800-2099), else the last ``'15``, else the
    last bare two-digit number: labels end with the vintage, and an earlier number can
    belong to the name (``CUVEE 33 15``), but a last ``75``, ``37`` or ``50`` after another
    two-digit number is a volume that lost its ``CL``. Written volumes (``75CL``, ``1,5L``,
    ``37.5``) are read before numbers are taken for years, so ``75 CL`` is never 1975.
    """
    folded = fold(label)
    folded = _HALF.sub(" demi ", folded)
    volume: float | None = None
    for match in _VOLUME.finditer(folded):
        amount = float(match.group(1).replace(",", "."))
        unit = match.group(2)
        volume = amount / 10 if unit == "ml" else amount * 100 if unit.startswith("l") else amount
    folded = _VOLUME.sub(" ", folded)
    for match in _BARE_VOLUME.finditer(folded):
        amount = float(match.group(1).replace(",", "."))
        volume = amount * 100 if amount < 10 else amount
    folded = _BARE_VOLUME.sub(" ", folded)

    apostrophe = [int(m.group(1)) for m in _APOSTROPHE_YEAR.finditer(folded)]
    # The last '15 leaves a mark where it stood, so that what follows it is known to follow
    # the vintage (a format word cut short: "'18 VERR").
    folded = _APOSTROPHE_YEAR.sub(f" {_MARK} ", folded)
    tokens = _tokens(_split_glued(folded))
    dated = any(_YEAR4.match(token) for token in tokens)  # a 2015 wins over a '15
    last_mark = max((i for i, token in enumerate(tokens) if token == _MARK), default=-1)
    tokens = [t for i, t in enumerate(tokens) if t != _MARK or (i == last_mark and not dated)]
    marks = [i for i, token in enumerate(tokens) if token == _MARK]
    years = [i for i, token in enumerate(tokens) if _YEAR4.match(token)]

    vintage: int | None = None
    vintage_at: int | None = None
    if years:
        vintage_at = years[-1]
        vintage = int(tokens[vintage_at])
    elif apostrophe:
        vintage = two_digit_year(apostrophe[-1])
        vintage_at = marks[-1]
    else:
        pairs = [i for i, token in enumerate(tokens) if len(token) == 2 and token.isdigit()]
        if len(pairs) > 1 and tokens[pairs[-1]] in _CUT_VOLUMES:
            # "UNICO 11 75": a volume whose "CL" the till's width cut off.
            if volume is None:
                volume = float(tokens[pairs[-1]])
            tokens = tokens[: pairs[-1]] + tokens[pairs[-1] + 1 :]
            pairs = pairs[:-1]
        if pairs:
            vintage_at = pairs[-1]
            vintage = two_digit_year(int(tokens[vintage_at]))
    if vintage_at is not None:
        tokens = tokens[:vintage_at] + tokens[vintage_at + 1 :]
    if vintage is not None and volume is None:
        cut = [i for i, token in enumerate(tokens) if token in _CUT_VOLUMES]
        if cut and cut[-1] >= len(tokens) - 2:
            # "TAVEL 2022 75C": the till's width left the number of a volume.
            volume = float(tokens[cut[-1]])
            tokens = tokens[: cut[-1]] + tokens[cut[-1] + 1 :]

    if vintage_at is not None and len(tokens) > vintage_at and _cut_format(tokens[-1]):
        # "MOUTON ROTHSCHILD 09 VER": a format word the till's width cut short.
        tokens = [*tokens[:-1], _cut_format(tokens[-1]) or ""]
    formats = [FORMAT_WORDS[token] for token in tokens if token in FORMAT_WORDS]
    specific = [f for f in formats if f != "bottle"]
    shape = specific[-1] if specific else (formats[-1] if formats else None)
    if volume is None and shape is not None:
        volume = FORMAT_VOLUMES[shape]
    if shape is None and volume is not None:
        shape = next((f for f, v in FORMAT_VOLUMES.items() if v == volume), None)
    kept = [(at, token) for at, token in enumerate(tokens) if token not in FORMAT_WORDS]
    # A label with a vintage is no "sans année": its SA is a word cut short (Saint-Aubin).
    words = expand([token for _, token in kept], _UNDATED if vintage is not None else frozenset())
    if kept and _cut_to_a_letter(*kept[-1], vintage_at):
        # "PEYSSAC M 2011": the till's width left one letter of the last word; it is the
        # start of a word (Meursault), where elsewhere a single letter is an elided article.
        words.append(kept[-1][1])
    return ParsedLabel(" ".join(words), vintage, shape, volume)


def _cut_to_a_letter(at: int, token: str, vintage_at: int | None) -> bool:
    """Whether the label's last wine word, ``token`` at ``at``, is a single letter before
    the vintage (after it, a letter is more likely a format word cut short: ``15 V``)."""
    return len(token) == 1 and token.isalpha() and (vintage_at is None or at < vintage_at)
