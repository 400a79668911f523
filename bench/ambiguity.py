"""Which yes labels of the match case describe more than one cellar item equally.

The label simulator (``tests/pointex/labelled.py``) writes the truth of a label from its own
wine only: ``BUISSON BL NOIRS BTLE`` is *Tortochot-Buisson's* Blanc de Noirs, although the
cellar also holds *Buisson Guerin's* and *Buisson Malescot's*, and the label names nothing
that tells them apart; ``ROULININ GEVREY-CHAMBERTIN 16`` is the producer's premier cru 2016
although their village wine has a 2016 too. No reader of the label, a sommelier included,
can do better than guess there, so the case reports top-1 on yes twice: strictly against the
simulator's truth, and counting as right any item the label describes exactly as well.

*Exactly as well* is judged without the engine: the label's words (abbreviations expanded,
vintage, formats and small words left out) are matched to a wine's words (name, producer,
appellation, colour) exactly, as a prefix of three letters or more (a cut word), or one edit
away for words of five letters or more (a typo). Another wine whose words match every label
word the true wine's match, with an item of the label's vintage, is described as well; so
is an item of the true wine in another volume when the label names no format.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from rapidfuzz.distance import Levenshtein

FORMAT_WORDS = frozenset(
    {"BTL", "BTLE", "BT", "BOUT", "BOUTEILLE", "MAG", "MAGNUM", "DEMI", "VERRE", "VRE", "VR", "GL"}
)
SIZE = re.compile(r"^\d+(?:[.,]\d+)?CL$")
YEAR = re.compile(r"^(?:'|’)?(?:\d\d|(?:19|20)\d\d)$")
SMALL = frozenset({"DE", "DU", "DES", "LA", "LE", "LES", "L", "D", "ET"})


def _words(text: str) -> list[str]:
    from tests.pointex.labelled import shout

    return [w for w in re.split(r"[\s\-'’./]+", shout(text)) if w]


def _expansions() -> dict[str, list[str]]:
    from tests.pointex.labelled import PHRASES

    found: dict[str, list[str]] = {}
    for full, shorts in PHRASES:
        for short in shorts:
            found.setdefault(short.rstrip("."), full.split())
    return found


class Describer:
    """The words of every cellar wine, looked up by word and by prefix."""

    def __init__(self, cellar: list[dict[str, Any]]):
        self.words: dict[str, set[str]] = {}
        self.items: dict[str, list[tuple[str, int | None, float]]] = {}
        self.by_word: dict[str, set[str]] = defaultdict(set)
        for wine in cellar:
            text = " ".join(
                str(wine.get(k) or "") for k in ("name", "producer", "appellation", "colour")
            )
            words = set(_words(text))
            self.words[wine["key"]] = words
            self.items[wine["key"]] = list(wine["rows"])
            for word in words:
                self.by_word[word].add(wine["key"])
        self.vocabulary = sorted(self.by_word)
        self.expand = _expansions()

    def label_words(self, label: str) -> tuple[list[str], bool]:
        """(content words, whether a format or size word is there)."""
        words, sized = [], False
        for word in _words(label):
            if word in FORMAT_WORDS or SIZE.match(word):
                sized = sized or word in {"MAG", "MAGNUM", "DEMI"} or bool(SIZE.match(word))
                continue
            if YEAR.match(word) or word in SMALL:
                continue
            words.extend(self.expand.get(word, [word]))
        return words, sized

    def covered(self, wine: str, words: list[str]) -> frozenset[int]:
        own = self.words[wine]
        return frozenset(i for i, word in enumerate(words) if _matches(word, own))

    def alike(self, label: str, wine: str, vintage: int | None, truth: list[str]) -> list[str]:
        """Items other than ``truth`` the label describes as well as its true wine's."""
        words, sized = self.label_words(label)
        covered = self.covered(wine, words)
        found: set[str] = set()
        if not sized:
            found |= {i for i, v, _ in self.items[wine] if vintage is None or v == vintage}
        if covered:
            rarest = min(covered, key=lambda i: len(self._wines_of(words[i])))
            for other in self._wines_of(words[rarest]) - {wine}:
                if self.covered(other, words) >= covered:
                    found |= {i for i, v, _ in self.items[other] if vintage is None or v == vintage}
        return sorted(found - set(truth))

    def _wines_of(self, word: str) -> set[str]:
        wines = set(self.by_word.get(word, ()))
        if len(word) >= 3:
            from bisect import bisect_left

            start = bisect_left(self.vocabulary, word)
            for known in self.vocabulary[start:]:
                if not known.startswith(word):
                    break
                wines |= self.by_word[known]
        return wines


def _matches(word: str, words: set[str]) -> bool:
    if word in words:
        return True
    if len(word) >= 3 and any(w.startswith(word) for w in words):
        return True
    return len(word) >= 5 and any(Levenshtein.distance(word, w, score_cutoff=1) <= 1 for w in words)
