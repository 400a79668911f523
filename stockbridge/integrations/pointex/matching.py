"""Proposes cellar (Somm'It) items for unlinked Pointex till labels.

A till label such as ``CH PICHON BARON 16 BTL`` is parsed (:mod:`.labels`) into wine words,
a vintage and a format. The wine words are matched against the cellar's *wines*: items that
share every text column but vintage and volume, so the six vintages of one château are one
wine to match and then six items to choose from.

Matching the wine
    Each label word is looked up in the cellar's vocabulary: exactly, as a prefix (labels
    are cut at the till's width and staff shorten words: ``PULIGNY MONTR``, ``BOURG RG``
    even though *Côtes de Bourg* makes ``bourg`` a word of its own; a last word cut to one
    letter, ``MEURS V``, weighs little and tells which name goes on with that letter, see
    ``_cut_identity``) and, for words the cellar does not have, within one or two edits
    (typos: ``LEFLAVE``), found by one vectorised rapidfuzz ``cdist`` (optimal string
    alignment distance, with a cutoff) over the vocabulary for all the labels of a call.
    Words weigh their inverse document frequency, so ``chateau`` counts little and
    ``pichon`` a lot; the wines holding a word come from an inverted index, so every label
    costs a few numpy operations over the wines, never a string comparison per item. A
    wine scores on three coverages:

    * how much of the label the wine explains (its name, producer, appellation, colour and
      any other text column): a label word the cellar lacks (``LATOUR``) sinks every wine,
      a colour that contradicts the wine's colour column costs a third;
    * how much the label names of what sets the wine apart: the name's words that are not
      the producer's or the appellation's (``pavillon`` in *Pavillon Rouge du Château
      Margaux*, producer Château Margaux). Naming the producer instead counts as much as
      that producer has few wines in the cellar, or few in the label's vintage (``PRODUCER
      2007`` names its only 2007), and never for a château's second wines (a château's
      name is its grand vin's; a château's wine that does not carry its name, *Vacqueyras
      Les Galets*, is named by it like any producer's). A generic wine (*Meursault* by
      Domaine Roulot) is named by its name or its producer. Wines without a producer are
      judged loosely (their name may hold the producer's words, which labels leave out).
      This is what puts ``Château Margaux`` above ``Pavillon Rouge`` for ``CH MARGAUX``,
      and says ``no`` to that label when the cellar only has the second wine;
    * how much of the whole name the label names (ranks near-duplicates).

    ``score = 100 × explained × (1 - β + β × distinctive) × (1 - γ + γ × name)``. The best
    candidates then get leniency when the label looks cut (18 characters or more) and
    shows the first words of their name (``PULIGNY-MONTRACHET 1E`` for *... 1er Cru Les
    Pucelles*), and a nudge from rapidfuzz's ``token_sort_ratio`` on the names.

Answers (per suggestion: what linking the label to *that* item would be)
    The wine *matches* when its score is at least :data:`MATCH_SCORE` and within
    :data:`MATCH_MARGIN` of the best wine's (a clearly worse second wine is another wine).

    * **yes**: the wine matches and the vintage does: the item's vintage equals the
      label's; or the label has no vintage and the item has none either (non-vintage
      champagne); or the label has no vintage and the wine has exactly one vintage in the
      cellar and no non-vintage item, so there is nothing to choose.
    * **almost**: the wine matches but the vintage does not: the label's vintage is not in
      the cellar for that wine (the suggestion is the closest vintage present, the newer one
      on a tie, a non-vintage item last), or the label has no vintage and the wine has
      several (the newest first: a bar sells its current vintage). The owner fixes the
      vintage, which is exactly what Somm'It's "almost" is for.
    * **no**: the wine does not match.

    A vintage difference never passes as yes: ``yes`` with a label vintage requires the
    item's vintage to be equal. The vintage is evidence too: an item in another vintage
    loses VINTAGE_PENALTY points, so a wine with the label's vintage outranks one slightly
    better on words without it. Format and volume only rank items of one wine (a
    ``MAG`` prefers the 150 cl item, a ``VERRE`` or no format the 75 cl bottle); they never
    change the answer, since a glass is poured from a bottle item.

Suggestions are best first with non-increasing scores; matching wines always come before
non-matching ones. Below the match score the best guesses are still returned, marked
``no``, so the owner sees what came closest; the list is empty only when no cellar word
resembles any label word.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from stockbridge.integrations.pointex.labels import (
    FORMAT_VOLUMES,
    ParsedLabel,
    normalise_words,
    parse_label,
)

__all__ = ["Answer", "CellarIndex", "ParsedLabel", "Suggestion", "parse_label"]

Answer = Literal["yes", "almost", "no"]

MATCH_SCORE = 62.0
"""A wine scoring below this is not the label's wine (tuned on the labelled tuning set)."""
MATCH_MARGIN = 20.0
"""A wine more than this below the best one is another wine, even above MATCH_SCORE."""
IDENTITY_BETA = 0.55
"""How much naming the wine's distinctive words counts (see the module docstring)."""
LOOSE_BETA = 0.25
"""IDENTITY_BETA for a wine without a producer: its name may hold the producer's words,
which labels often leave out (``CHABLIS 22`` for *Domaine William Fèvre Chablis*)."""
NAME_GAMMA = 0.15
"""How much naming the rest of the wine's name counts (ranks near-duplicates)."""
PRODUCER_GAMMA = 0.05
"""How much naming all of the producer counts: ``LEROY BRUT NATURE`` is Leroy's, not
Verdet Leroy's, when the cellar has both."""
CONTEXT_FACTOR = 0.45
"""Weight of name words that repeat the appellation or colour (``Bandol``, ``Blanc``)."""
WEAK_FACTOR = 0.3
"""Weight of words that staff leave out because they go without saying."""
WEAK_WORDS = frozenset(
    {"chateau", "domaine", "brut", "cuvee", "maison", "grand", "premier", "cru", "classe"}
)
"""Words that go without saying (``Corton-Charlemagne`` for *Corton-Charlemagne Grand
Cru*); numbers in names (``Collection 243``) count as weak too."""
COLOUR_CONFLICT = 0.7
"""Factor on a wine whose colour contradicts a colour word of the label (``CRISTAL ROSE``
against a white Cristal), unless the wine's name has that word (``CHEVAL BLANC``)."""
COLOUR_NAME_FACTOR = 0.3
"""Weight of a colour word in a name among the words that set a wine apart (*Château X
Blanc*): staff leave the colour out, and then the vintage or the format tells the colours
of one château apart."""
COLOUR_UNKNOWN = 0.85
"""How well a wine without a colour explains a label's colour word."""
COLOURS = {
    **dict.fromkeys(("rouge", "red", "rosso", "tinto", "rot"), 1),
    **dict.fromkeys(("blanc", "white", "bianco", "blanco", "weiss", "liquoreux"), 2),
    **dict.fromkeys(("rose", "rosado", "rosato"), 3),
}
UNKNOWN_FACTOR = 1.0
"""Weight of a label word the cellar does not have, as a share of the rarest word's."""
UNKNOWN_LENGTH = 5
"""Unknown words shorter than this weigh in proportion to their length."""
TYPO_SIMILARITY = {0: 1.0, 1: 0.88, 2: 0.72}
"""Similarity of a word one or two edits away from a cellar word."""
CUT_CREDIT = 0.6
"""Credit for the name words after the last one a cut label shows (see _cut_identity)."""
CUT_LENGTH = 18
"""Labels this long or longer may have been cut at the till's width."""
SHORTENED_LENGTH = 5
"""A label word this long may be a longer cellar word shortened by staff even when the
cellar has it as a word of its own: ``BOURG`` for Bourgogne, beside Côtes de Bourg."""
SHORTENED_FACTOR = 0.8
"""Factor on the similarity of that reading: the word itself is the likelier one."""
RERANK_FUZZ = 0.08
"""Share of the re-ranked score given to token_sort_ratio on the names."""
CANDIDATES = 24
"""Wines re-ranked per label."""
SIBLING_GAP = 6.0
"""Score below the label's best wine given to a dated sibling (see _dated_sibling); never
below MATCH_SCORE when the best wine matches."""
SIBLING_SLACK = 0.02
"""How much less of the label a dated sibling may explain than the best wine."""
ITEM_MARGIN = 20.0
"""A wine whose best item is within this of the best item matches too (see _items)."""
VINTAGE_PENALTY = 20.0
"""Score taken off an item in another vintage than the label's (plus 0.2 a year, ≤ 2): the
vintage is evidence, so a wine that has the label's vintage beats one scoring up to this
much better on words that lacks it (cut labels: ``PRODUCER MOREY-SAINT-DENIS 23`` for the
producer's premier cru, the only one with a 2023)."""
UNDATED_PENALTY = 3.0
"""Score taken off the items of a wine with several vintages for a label without one."""
VOLUME_PENALTY = 1.0
"""Score taken off an item in another volume than the label's (or 75 cl)."""
TEXT_COLUMNS = ("item", "name", "vintage", "volume")
ARTICLE_LETTERS = frozenset("adl")
"""A label's last word cut to one of these letters may be an article the cellar's words
leave out (``1ER A`` for *1er Cru Aux Boudots*, ``L`` for *Les*, ``D`` for *de*)."""


@dataclass(frozen=True)
class Suggestion:
    """One cellar item proposed for a till label."""

    item: str
    """Cellar item id."""
    name: str
    vintage: int | None
    score: float
    """0..100, higher is better, rounded to 1 decimal."""
    answer: Answer
    """What linking the label to this item would be."""


@dataclass
class _Wine:
    name: str
    """Normalised name words, space separated (for token_sort_ratio)."""
    items: list[int]
    vintages: frozenset[int]
    has_nv: bool
    producer: tuple[str, ...]
    colour: int
    """Code in COLOURS of the colour column, 0 when unknown."""
    name_ids: tuple[int, ...] = ()
    """Vocabulary ids of the name's words, in order."""


class CellarIndex:
    """Built once per run from the cellar's items (a pandas DataFrame with at least the
    columns item, name, vintage (nullable int), volume (nullable, cl); any other text columns,
    e.g. producer, appellation, colour, help matching).

    Other text columns are used unless they look like codes (no spaces and digits in most
    values: barcodes, bin numbers) or free text (over 60 characters on average); pass
    ``columns`` to choose them. A column named like ``producer``/``appellation``/``colour``
    gets the role that weighs it (see the module docstring); others only explain labels.
    ``workers`` is rapidfuzz's thread count (-1: all cores).
    """

    def __init__(
        self, items: pd.DataFrame, columns: Sequence[str] | None = None, workers: int = -1
    ) -> None:
        missing = [c for c in TEXT_COLUMNS if c not in items.columns]
        if missing:
            raise ValueError(f"cellar items lack column(s) {', '.join(missing)}")
        self.workers = workers
        self.columns = list(columns) if columns is not None else _text_columns(items)
        self._ids = [str(v) for v in _objects(items["item"])]
        self._names = [("" if v is None else str(v)) for v in _objects(items["name"])]
        self._vintages = _integers(items["vintage"])
        self._volumes = np.array(
            [np.nan if v is None else v for v in _floats(items["volume"])], dtype=np.float64
        )
        self._build(items)

    # -- building -----------------------------------------------------------------------------

    def _build(self, items: pd.DataFrame) -> None:
        cache: dict[str, tuple[str, ...]] = {}

        def words(text: str) -> tuple[str, ...]:
            found = cache.get(text)
            if found is None:
                found = cache[text] = tuple(dict.fromkeys(normalise_words(text)))
            return found

        roles = [_role(column) for column in self.columns]
        extras = [[("" if v is None else str(v)) for v in _objects(items[c])] for c in self.columns]
        vocabulary: dict[str, int] = {}
        wine_of: dict[tuple, int] = {}
        wines: list[_Wine] = []
        docs: list[dict[int, tuple[float, float, float]]] = []
        generics: list[bool] = []
        item_wine = np.empty(len(self._ids), dtype=np.int64)

        for row, name in enumerate(self._names):
            name_words = words(name)
            if any(_is_year(w) for w in name_words):
                years = [w for w in name_words if _is_year(w)]
                name_words = tuple(w for w in name_words if not _is_year(w))
                if self._vintages[row] is None and len(years) == 1:
                    self._vintages[row] = int(years[0])
            extra = tuple(words(values[row]) for values in extras)
            key = (name_words, extra)
            wine = wine_of.get(key)
            if wine is None:
                wine = wine_of[key] = len(wines)
                producer = tuple(
                    w for ws, r in zip(extra, roles, strict=True) if r == "producer" for w in ws
                )
                colour = next(
                    (
                        COLOURS[w]
                        for ws, r in zip(extra, roles, strict=True)
                        if r == "colour"
                        for w in ws
                        if w in COLOURS
                    ),
                    0,
                )
                wines.append(_Wine(" ".join(name_words), [], frozenset(), False, producer, colour))
                doc, generic = _document(name_words, extra, roles, vocabulary)
                docs.append(doc)
                generics.append(generic)
                wines[wine].name_ids = tuple(vocabulary[w] for w in name_words)
            item_wine[row] = wine
            wines[wine].items.append(row)

        for wine in wines:
            vintages = [self._vintages[i] for i in wine.items]
            wine.vintages = frozenset(v for v in vintages if v is not None)
            wine.has_nv = any(v is None for v in vintages)

        self._wines = wines
        self._item_wine = item_wine
        self._vocabulary = vocabulary
        self._words = list(vocabulary)
        self._sorted = sorted(vocabulary)
        n_wines, n_words = len(wines), len(vocabulary)

        # Postings, sorted by word: the wines holding each word, and the word's weights there
        # (distinctive, name, producer), each times the word's inverse document frequency.
        lengths = np.array([len(doc) for doc in docs], dtype=np.int64)
        total = int(lengths.sum())
        post_wine = np.repeat(np.arange(n_wines, dtype=np.int64), lengths)
        post_word = np.fromiter((tid for doc in docs for tid in doc), np.int64, count=total)
        factors = np.fromiter(
            (f for doc in docs for fs in doc.values() for f in fs), np.float64, count=3 * total
        ).reshape(total, 3)
        frequency = np.bincount(post_word, minlength=n_words).astype(np.float64)
        self._idf = np.log1p(max(n_wines, 1) / np.maximum(frequency, 1))
        self._unknown_weight = UNKNOWN_FACTOR * float(np.log1p(max(n_wines, 1)))
        weights = factors * self._idf[post_word][:, None]
        order = np.argsort(post_word, kind="stable")
        self._post_wine = post_wine[order]
        self._post_weights = np.ascontiguousarray(weights[order].T)
        self._post_start = np.searchsorted(post_word[order], np.arange(n_words + 1))
        totals = np.zeros((3, n_wines), dtype=np.float64)
        for kind in range(3):
            np.add.at(totals[kind], post_wine, weights[:, kind])
        self._generic = np.array(generics, dtype=bool)
        self._docs = docs
        self._totals = np.maximum(totals, 1e-9)
        # Naming the producer identifies a wine as well as its producer has few wines here;
        # but a château's name is its grand vin's, never its second wine's (*Les Allées de
        # X*). A château's wine named otherwise (*Vacqueyras Les Galets* of Château
        # Courgeyin) is named by its producer like any other.
        makers = Counter(wine.producer for wine in wines)
        self._by_producer: dict[tuple[str, ...], list[int]] = {}
        for number, wine in enumerate(wines):
            if wine.producer:
                self._by_producer.setdefault(wine.producer, []).append(number)
        named_by = [_named_by_producer(wine) for wine in wines]
        self._producer_share = np.array(
            [
                1.0 / math.sqrt(makers[w.producer]) if w.producer and by else 0.0
                for w, by in zip(wines, named_by, strict=True)
            ]
        )
        # The same share among the producer's wines in one vintage: ``PRODUCER 2011`` names
        # the producer's only 2011 as well as a producer with one wine names that wine.
        in_vintage: dict[int, dict[tuple[str, ...], list[int]]] = {}
        for number, wine in enumerate(wines):
            if wine.producer and named_by[number]:
                for vintage in wine.vintages:
                    in_vintage.setdefault(vintage, {}).setdefault(wine.producer, []).append(number)
        self._vintage_share: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for vintage, makers_of in in_vintage.items():
            numbers = [n for ns in makers_of.values() for n in ns]
            shares = [1.0 / math.sqrt(len(ns)) for ns in makers_of.values() for _ in ns]
            self._vintage_share[vintage] = (
                np.array(numbers, dtype=np.int64),
                np.array(shares, dtype=np.float64),
            )
        self._beta = np.array([IDENTITY_BETA if w.producer else LOOSE_BETA for w in wines])
        self._colour = np.array([wine.colour for wine in wines], dtype=np.int8)
        self._colour_unknown = np.where(self._colour == 0, COLOUR_UNKNOWN, 0.0)
        self._name_has = {
            code: np.array([any(COLOURS.get(x) == code for x in w.name.split()) for w in wines])
            for code in set(COLOURS.values())
        }

    # -- matching -----------------------------------------------------------------------------

    def suggest(self, label: str, limit: int = 5) -> list[Suggestion]:
        """Up to ``limit`` cellar items for one till label, best first."""
        return self.suggest_many([label], limit)[0]

    def suggest_many(self, labels: Sequence[str], limit: int = 5) -> list[list[Suggestion]]:
        """:meth:`suggest` for many labels: the fuzzy look-up of words the cellar does not
        have is one rapidfuzz ``cdist`` for all of them."""
        parsed = [parse_label(label) for label in labels]
        tokens = [list(dict.fromkeys(p.wine.split())) for p in parsed]
        fuzzy = self._fuzzy_words({t for ts in tokens for t in ts})
        return [
            self._suggest(p, ts, fuzzy, limit, len(label.strip()) >= CUT_LENGTH)
            for label, p, ts in zip(labels, parsed, tokens, strict=True)
        ]

    def _fuzzy_words(self, tokens: set[str]) -> dict[str, list[tuple[int, float]]]:
        """Vocabulary words within a typo of each label word the cellar lacks: one edit
        (a letter swapped, dropped, doubled or mistyped: optimal string alignment distance)
        from four letters on, two from eight."""
        queries = sorted(t for t in tokens if t not in self._vocabulary and _fuzzable(t))
        if not queries or not self._words:
            return {}
        distances = process.cdist(
            queries,
            self._words,
            scorer=OSA.distance,
            score_cutoff=2,
            dtype=np.int32,
            workers=self.workers,
        )
        found: dict[str, list[tuple[int, float]]] = {}
        for row, query in enumerate(queries):
            allowed = 2 if len(query) >= 8 else 1
            (columns,) = np.nonzero(distances[row] <= allowed)
            found[query] = [(int(c), TYPO_SIMILARITY[int(distances[row, c])]) for c in columns]
        return found

    def _matches(
        self, token: str, last: bool, fuzzy: dict[str, list[tuple[int, float]]]
    ) -> list[tuple[int, float]]:
        """(vocabulary id, similarity) for one label word."""
        found: dict[int, float] = {}
        exact = self._vocabulary.get(token)
        if exact is not None:
            found[exact] = 1.0
        if token.isdigit():
            return list(found.items())
        if exact is None or last or len(token) >= SHORTENED_LENGTH:
            shortest = 1 if last else 3
            if len(token) >= shortest:
                start = bisect.bisect_left(self._sorted, token)
                for word in self._sorted[start:]:
                    if not word.startswith(token):
                        break
                    if word != token:
                        similarity = min(0.92, 0.55 + 0.5 * len(token) / len(word))
                        if exact is not None and not last:
                            similarity *= SHORTENED_FACTOR
                        tid = self._vocabulary[word]
                        found[tid] = max(found.get(tid, 0.0), similarity)
        if exact is None and not (found and last):
            # A last word that starts a cellar word was cut by the till, not mistyped: COTEA
            # is the start of Coteaux, not Cote with a letter too many.
            for tid, similarity in fuzzy.get(token, ()):
                found[tid] = max(found.get(tid, 0.0), similarity)
        return list(found.items())

    def _suggest(
        self,
        parsed: ParsedLabel,
        tokens: list[str],
        fuzzy: dict[str, list[tuple[int, float]]],
        limit: int,
        maybe_cut: bool,
    ) -> list[Suggestion]:
        n_wines = len(self._wines)
        if not tokens or n_wines == 0:
            return []
        explained = np.zeros(n_wines, dtype=np.float64)
        total_weight = 0.0
        best_for_word: dict[int, float] = {}
        coverage = np.empty(n_wines, dtype=np.float64)
        # The last word may be cut short; so may the one before a last word cut to a letter.
        letter = tokens[-1] if len(tokens[-1]) == 1 and tokens[-1].isalpha() else None
        cut_from = len(tokens) - (2 if letter else 1)
        for index, token in enumerate(tokens):
            matches = self._matches(token, index >= cut_from, fuzzy)
            if not matches:
                # A short word the cellar lacks is more often an abbreviation than a name.
                total_weight += self._unknown_weight * min(1.0, len(token) / UNKNOWN_LENGTH)
                continue
            best = max(matches, key=lambda m: (m[1], self._idf[m[0]]))
            weight = float(self._idf[best[0]])
            coverage.fill(0.0)
            for tid, similarity in matches:
                lo, hi = self._post_start[tid], self._post_start[tid + 1]
                np.maximum.at(coverage, self._post_wine[lo:hi], similarity)
            if letter and index == len(tokens) - 1:
                # A word cut to one letter (see labels.parse_label) is explained by any word
                # that starts with it, tells apart only the wines that have one (it weighs
                # their inverse frequency) and names no word: what it tells of a cut name is
                # left to _cut_identity.
                coverage[coverage > 0.0] = 1.0
                weight = min(weight, math.log1p(n_wines / max(np.count_nonzero(coverage), 1)))
                matches = []
            elif index >= cut_from and token not in self._vocabulary:
                # A cut word (``VA``) weighs no more than what it tells apart: the inverse
                # frequency of all the wines with a word it may start (Vacqueyras and many
                # more), not that of the rarest of those words (a Clos du Val).
                weight = min(weight, math.log1p(n_wines / max(np.count_nonzero(coverage), 1)))
            for tid, similarity in matches:
                if similarity > best_for_word.get(tid, 0.0):
                    best_for_word[tid] = similarity
            total_weight += weight
            if token in COLOURS:
                # A wine of unknown colour can be of the colour a label says.
                np.maximum(coverage, self._colour_unknown, out=coverage)
            explained += weight * coverage
        if not best_for_word:
            return []
        named = np.zeros((3, n_wines), dtype=np.float64)
        for tid, similarity in best_for_word.items():
            lo, hi = self._post_start[tid], self._post_start[tid + 1]
            wines = self._post_wine[lo:hi]
            for kind in range(3):
                np.add.at(named[kind], wines, self._post_weights[kind, lo:hi] * similarity)
        covered = np.minimum(named / self._totals, 1.0)
        share = self._producer_share
        if parsed.vintage in self._vintage_share:
            share = share.copy()
            numbers, shares = self._vintage_share[parsed.vintage]
            share[numbers] = np.maximum(share[numbers], shares)
        by_producer = share * covered[2]
        identity = np.where(
            self._generic,
            np.maximum(covered[1], covered[2]),
            np.maximum(covered[0], by_producer),
        )
        explains = explained / total_weight
        factor = np.ones(n_wines, dtype=np.float64)
        for code in {COLOURS[t] for t in tokens if t in COLOURS}:
            clash = (self._colour != 0) & (self._colour != code) & ~self._name_has[code]
            factor[clash] = COLOUR_CONFLICT
        factor *= 1.0 - PRODUCER_GAMMA + PRODUCER_GAMMA * covered[2]
        scores = _score(explains, identity, covered[1], self._beta) * factor
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > CANDIDATES:
            top = np.argpartition(-scores[candidates], CANDIDATES)[:CANDIDATES]
            candidates = candidates[top]
        if maybe_cut or letter:
            for wine in candidates:
                cut = self._cut_identity(
                    int(wine), best_for_word, covered[2, wine], share[wine], letter
                )
                if cut is not None:
                    lenient = _score(explains[wine], *cut, self._beta[wine]) * factor[wine]
                    scores[wine] = max(scores[wine], lenient)
        ranked = self._rerank(parsed, candidates, scores)
        if maybe_cut and parsed.vintage is not None and ranked:
            ranked = self._dated_sibling(parsed.vintage, ranked, explains)
        return self._items(parsed, ranked, limit)

    def _dated_sibling(
        self, vintage: int, ranked: list[tuple[int, float]], explains: np.ndarray
    ) -> list[tuple[int, float]]:
        """A cut label that names a producer's wine in a vintage the cellar lacks for it, but
        has for another wine of that producer whose words the label explains as well, is
        that other wine: the cut took the words that set it apart (``PRODUCER
        MOREY-SAINT-DENIS 23`` for the producer's premier cru, the only one in 2023)."""
        top, top_score = ranked[0]
        wine = self._wines[top]
        if not wine.producer or vintage in wine.vintages:
            return ranked
        lifted = dict(ranked)
        for sibling in self._by_producer[wine.producer]:
            if (
                sibling != top
                and vintage in self._wines[sibling].vintages
                and explains[sibling] >= explains[top] - SIBLING_SLACK
            ):
                # Below the best wine, but matching when it does: it is the label's wine.
                score = top_score - SIBLING_GAP
                if top_score >= MATCH_SCORE:
                    score = max(score, MATCH_SCORE)
                lifted[sibling] = max(lifted.get(sibling, 0.0), score)
        if len(lifted) == len(ranked) and all(lifted[w] == s for w, s in ranked):
            return ranked
        return sorted(lifted.items(), key=lambda pair: (-pair[1], pair[0]))

    def _cut_identity(
        self,
        wine: int,
        best_for_word: dict[int, float],
        producer_cover: float,
        share: float,
        letter: str | None = None,
    ) -> tuple[float, float] | None:
        """(identity, name coverage) of a wine for a label that may have been cut at the
        till's width, or None when the label does not look like the start of its name.

        A cut label shows the first words of a name (``PULIGNY MONTRACHET 1ER`` for *...
        1er Cru Les Pucelles*): when the label covers the name's first words and none after,
        the words after get CUT_CREDIT instead of nothing. The first words may leave out
        words that go without saying (``HAUT-MARBUZE`` for *Château Haut-Marbuzet ...*). A
        label whose last word was cut to one ``letter`` is the start of a name whose first
        word not shown begins with it.
        """
        ids = self._wines[wine].name_ids
        shown = [best_for_word.get(tid, 0.0) for tid in ids]
        # The name as shown starts after the first words not shown that go without saying.
        lead = next((i for i, tid in enumerate(ids) if shown[i] or not _weak(self._words[tid])), 0)
        first_missing = next((i for i, s in enumerate(shown) if s == 0.0 and i >= lead), len(shown))
        if first_missing == lead or first_missing == len(shown) or any(shown[first_missing:]):
            return None
        if letter and not (
            self._words[ids[first_missing]].startswith(letter) or letter in ARTICLE_LETTERS
        ):
            return None  # "MERCUREY 1ER V" is the start of Les Vaucrains, not of Les Rugiens
        doc = self._docs[wine]
        if all(_weak(self._words[tid]) for tid in ids[lead:first_missing]):
            return None  # only words that go without saying: "CHATEAU" is no start of a name
        sums = [0.0, 0.0]
        for tid, similarity in zip(ids, shown, strict=True):
            credit = similarity or CUT_CREDIT
            sums[0] += doc[tid][0] * self._idf[tid] * credit
            sums[1] += doc[tid][1] * self._idf[tid] * credit
        distinct = min(sums[0] / self._totals[0, wine], 1.0)
        name = min(sums[1] / self._totals[1, wine], 1.0)
        if self._generic[wine]:
            return max(name, producer_cover), name
        return max(distinct, share * producer_cover), name

    def _rerank(
        self, parsed: ParsedLabel, candidates: np.ndarray, scores: np.ndarray
    ) -> list[tuple[int, float]]:
        """(wine, score) best first: the coverage score nudged by how the label's words, in
        order, resemble the wine's name (token_sort_ratio on normalised words)."""
        names = [self._wines[w].name for w in candidates]
        similarity = process.cdist([parsed.wine], names, scorer=fuzz.token_sort_ratio, workers=1)[0]
        ranked = [
            (int(w), float((1 - RERANK_FUZZ) * scores[w] + RERANK_FUZZ * s))
            for w, s in zip(candidates, similarity, strict=True)
        ]
        ranked.sort(key=lambda pair: (-pair[1], pair[0]))
        return ranked

    def _items(
        self, parsed: ParsedLabel, ranked: list[tuple[int, float]], limit: int
    ) -> list[Suggestion]:
        if not ranked:
            return []
        best = ranked[0][1]
        wanted_volume = parsed.volume_cl
        if wanted_volume is None or parsed.format in ("glass", "carafe"):
            wanted_volume = FORMAT_VOLUMES["bottle"]
        scored: list[tuple[int, float, list[tuple[int, float, Answer]]]] = []
        for wine_id, wine_score in ranked[: max(limit, 1) + 2]:
            wine = self._wines[wine_id]
            rows = []
            for row in wine.items:
                penalty, answer = _vintage_judgement(parsed.vintage, self._vintages[row], wine)
                volume = self._volumes[row]
                if not math.isnan(volume) and abs(volume - wanted_volume) > 0.5:
                    penalty += VOLUME_PENALTY
                rows.append((row, max(0.0, wine_score - penalty), answer))
            scored.append((wine_id, wine_score, rows))
        # A wine close on words whose item has the label's vintage is the label's wine as much
        # as a better-named one without it: the margin is judged on items too.
        best_item = max(
            (score for _, ws, rows in scored if ws >= MATCH_SCORE for _, score, _ in rows),
            default=0.0,
        )
        found: list[tuple[bool, float, int, Suggestion]] = []
        for _, wine_score, rows in scored:
            top = max(score for _, score, _ in rows)
            matches = wine_score >= MATCH_SCORE and (
                wine_score >= best - MATCH_MARGIN or top >= best_item - ITEM_MARGIN
            )
            for row, score, answer in rows:
                suggestion = Suggestion(
                    self._ids[row],
                    self._names[row],
                    self._vintages[row],
                    round(score, 1),
                    answer if matches else "no",
                )
                found.append((matches, score, row, suggestion))
        found.sort(key=lambda entry: (not entry[0], -entry[1], entry[2]))
        chosen = [entry[3] for entry in found[:limit]]
        # Matching wines come first even when a non-matching one scored higher: keep the
        # scores non-increasing down the list.
        for index in range(1, len(chosen)):
            if chosen[index].score > chosen[index - 1].score:
                chosen[index] = _with_score(chosen[index], chosen[index - 1].score)
        return chosen


def _score(explains: Any, identity: Any, name: Any, beta: Any) -> Any:
    """The wine score from its three coverages (arrays or floats)."""
    return (
        100.0 * explains * (1.0 - beta + beta * identity) * (1.0 - NAME_GAMMA + NAME_GAMMA * name)
    )


def _with_score(suggestion: Suggestion, score: float) -> Suggestion:
    return Suggestion(
        suggestion.item, suggestion.name, suggestion.vintage, score, suggestion.answer
    )


def _vintage_judgement(
    wanted: int | None, vintage: int | None, wine: _Wine
) -> tuple[float, Answer]:
    """(score penalty, answer if the wine matches) for one item of a matching wine."""
    if wanted is not None:
        if vintage == wanted:
            return 0.0, "yes"
        if vintage is None:
            return VINTAGE_PENALTY + 2.5, "almost"
        distance = abs(vintage - wanted)
        # A newer vintage ties first: it is the more likely one to be in stock.
        return VINTAGE_PENALTY + min(0.2 * distance, 2.0) + (0.01 if vintage < wanted else 0.0), (
            "almost"
        )
    if vintage is None:
        return 0.0, "yes"
    if not wine.has_nv and len(wine.vintages) == 1:
        # Below a non-vintage wine that scores the same: a label without a vintage is
        # more often a wine without one.
        return 0.5, "yes"
    newest = max(wine.vintages)
    return UNDATED_PENALTY + min(0.2 * (newest - vintage), 2.0), "almost"


def _document(
    name: tuple[str, ...],
    extra: tuple[tuple[str, ...], ...],
    roles: list[str],
    vocabulary: dict[str, int],
) -> tuple[dict[int, tuple[float, float, float]], bool]:
    """A wine's words -> (distinctive, name, producer) weight factors, and whether the wine
    is generic; every word of every column explains labels, whatever its factors.

    Distinctive words are the name's words that are not the producer's or the
    appellation's: ``pavillon`` and ``rouge`` in *Pavillon Rouge du Château Margaux*
    (producer Château Margaux, appellation Margaux), ``pucelles`` in *Puligny-Montrachet
    1er Cru Les Pucelles*. A generic wine has none but words that go without saying
    (*Meursault* by Domaine Roulot, *Bandol* by Domaine Tempier): it is named by its name
    or by its producer, whichever the label covers better.
    """
    by_role: dict[str, set[str]] = {}
    for ws, role in zip(extra, roles, strict=True):
        by_role.setdefault(role, set()).update(ws)
    producer = by_role.get("producer", set())
    appellation = by_role.get("appellation", set())
    doc: dict[str, list[float]] = {}
    for ws in extra:
        for w in ws:
            doc.setdefault(w, [0.0, 0.0, 0.0])
    generic = True
    for w in name:
        weak = _weak(w)
        factor = WEAK_FACTOR if weak else 1.0
        factors = doc.setdefault(w, [0.0, 0.0, 0.0])
        factors[1] = CONTEXT_FACTOR if w in appellation else factor
        if w not in producer and w not in appellation:
            colour = w in COLOURS
            factors[0] = COLOUR_NAME_FACTOR if colour else factor
            generic = generic and (weak or (colour and COLOUR_NAME_FACTOR < 1.0))
    for w in producer:
        doc[w][2] = WEAK_FACTOR if w in WEAK_WORDS else 1.0
    found: dict[int, tuple[float, float, float]] = {}
    for w, factors in doc.items():
        tid = vocabulary.setdefault(w, len(vocabulary))
        found[tid] = (factors[0], factors[1], factors[2])
    return found, generic


def _named_by_producer(wine: _Wine) -> bool:
    """Whether naming the wine's producer may name the wine: not for a château's wines
    that carry the château's name (its grand vin is the one named so), yes otherwise."""
    if not wine.producer:
        return False
    if wine.producer[0] != "chateau":
        return True
    return not {w for w in wine.producer if not _weak(w)} & set(wine.name.split())


def _weak(word: str) -> bool:
    return word in WEAK_WORDS or word.isdigit()


def _is_year(word: str) -> bool:
    return len(word) == 4 and word.isdigit() and word[:2] in ("18", "19", "20")


def _fuzzable(token: str) -> bool:
    return len(token) >= 4 and not token.isdigit()


def _role(column: str) -> str:
    name = column.casefold()
    if any(k in name for k in ("produc", "domaine", "maker", "winery", "estate", "maison")):
        return "producer"
    if any(k in name for k in ("appell", "aoc", "region", "origin")):
        return "appellation"
    if any(k in name for k in ("colo", "couleur", "type")):
        return "colour"
    return "other"


def _objects(series: pd.Series) -> list[object]:
    """Plain Python values with None for every missing marker (NaN, NA, NaT, pyarrow null)."""
    values = series.astype(object).tolist()
    return [
        None if (v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))) else v
        for v in values
    ]


def _floats(series: pd.Series) -> list[float | None]:
    found: list[float | None] = []
    for value in _objects(series):
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            number = math.nan
        found.append(None if math.isnan(number) else number)
    return found


def _integers(series: pd.Series) -> list[int | None]:
    return [None if v is None else round(v) for v in _floats(series)]


def _text_columns(items: pd.DataFrame) -> list[str]:
    chosen = []
    for column in items.columns:
        if column in TEXT_COLUMNS:
            continue
        series = items[column]
        if not (
            pd.api.types.is_string_dtype(series)
            or pd.api.types.is_object_dtype(series)
            or isinstance(series.dtype, pd.CategoricalDtype)
        ):
            continue
        values = [str(v) for v in _objects(series) if v is not None and str(v).strip()]
        if not values:
            continue
        code_like = sum(1 for v in values if " " not in v.strip() and any(c.isdigit() for c in v))
        if code_like > 0.9 * len(values) or sum(map(len, values)) / len(values) > 60:
            continue
        chosen.append(column)
    return chosen
