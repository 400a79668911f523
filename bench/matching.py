"""The ``match`` benchmark case: cellar suggestions for till labels, against a plain
rapidfuzz reference timed in the same process.

Data: a generated cellar (seeded) of Bordeaux châteaux with their second wines, Burgundy
domaines with villages, premiers crus and vieilles vignes, Rhône, Loire and southern
estates with cuvées, champagne houses without vintages; several vintages per wine, some
magnums and halves. Some generated wines are kept out of the cellar: their labels must be
answered ``no``. Labels are made by the labelled set's till-label simulator
(``tests/pointex/labelled.py``: abbreviations, two-digit vintages, format words, typos,
cuts at the label width) with the truth by the matching module's rules.

Ours: ``CellarIndex(items)`` (timed: building is part of every run) then
``suggest_many(labels)``. Reference: ``rapidfuzz.process.extractOne(label, choices)`` per
label, default scorer (WRatio) and processor (none), choices ``f"{name} {vintage}"``; its
answer is ``no`` under REFERENCE_THRESHOLD, else ``yes`` when the label's last year
(``2015``, ``15`` or ``'15``) equals the chosen item's vintage, else ``almost``.

Run by ``python -m bench`` in a worker process of its own (``python -m bench.matching
--plan ... --out ...``): no Prefect here.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
import traceback
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd

from bench.cases import Case
from bench.memory import PeakMemory
from bench.worker import Profiled, code_revision, cpu_seconds, machine_load

SEED = 20_251_202
REFERENCE_THRESHOLD = 60.0
"""WRatio score under which the reference answers ``no``."""
GOALS = {"top1_yes": 0.90, "answer": 0.85}
"""Accuracy goals for our engine (the time goal is the case's target_ratio)."""
ABSENT_SHARE = 0.04
"""Share of generated wines kept out of the cellar (their labels are ``no``): most with
their producer (a producer the bar does not stock), some of a producer it does."""


def _list(text: str, separator: str | None = None) -> list[str]:
    """Words (or ``separator``-separated phrases) of a multi-line literal."""
    return [
        part.strip()
        for part in text.replace("\n", " " if separator is None else "").split(separator)
    ]


SURNAMES = _list("""
Arnoux Bachelet Barthod Bernard Bertin Besson Billard Blain Boillot Bonnet Bouchard
Bourgeon Brun Buisson Carillon Chapuis Charlopin Chauvet Chevalier Clair Colin Coste Coudert
Courtois Damoy Dauvissat Delorme Denis Deschamps Drouhin Dubois Dufour Dugat Durand Esmonin
Faiveley Fontaine Fournier Gagnard Garnier Gauthier Geantet Germain Girard Gonnet Gros Guerin
Guillot Guyon Jacob Jobard Joly Lafarge Lamy Laurent Leclerc Lefebvre Lejeune Leroy Lignier
Machard Magnien Marchand Martin Masson Mathieu Mercier Meunier Michel Millot Moreau Morey
Mortet Mugnier Noblet Pavelot Perrot Petit Picard Pillot Pernot Poirier Ponsot Prieur Quillardet
Ramonet Raphet Regnard Remy Richard Rion Robert Roblot Rossignol Roulot Roux Sauzet Serveau
Simon Tardy Thevenot Tortochot Trapet Vallet Verdet Vernay Villard Voillot""")
FIRST_NAMES = _list("""
Alain Anne Bernard Bruno Claire Denis Dominique Emmanuel Etienne Francois Gilles
Henri Isabelle Jacques Jean Julien Laurent Louis Marc Marie Michel Nicolas Olivier Patrick Paul
Philippe Pierre Sylvain Thierry Vincent""")
PLACES = _list("""Beauséjour Bel-Air Belle-Vue Bellevue Beaumont Bonnet Boyd Brillette Cantenac Cap
Capbern Carbonnieux Castera Chantegrive Cissac Citran Clarke Clément Coufran Croizet Dauzac
Desmirail Ferrière Fieuzal Fombrauge Fonbadet Fonréaud Fourcas Gazin Gloria Grand-Puy Grangey
Greysac Guiraud Haut-Bages Haut-Batailley Haut-Condissas Haut-Marbuzet Labégorce Lafon Lagrange
Lalande Lamarque Lanessan Larose Larrivet Lascombes Latour-Martillac Laujac Le-Boscq Le-Crock
Les-Ormes Lilian Liversan Loudenne Malescasse Malescot Marquis Maucaillou Mayne Meyney Monbrison
Moulin Nairac Olivier Ormes-Sorbet Paloumey Patache Peyrabon Phélan Pibran Pontac Potensac
Poujeaux Preuillac Prieuré Ramage Rayne Respide Reysson Rollan Saransot Sénéjac Ségur Siran
Soutard Taillefer Tayac Tour-Carnet Tour-du-Pas Tronquoy Troplong Valrose Verdignan Vieux-Robin
Villegeorge""")
CLIMATS = _list(
    """Les Caillerets|Les Chaumes|Les Charmes|Les Perrières|Les Genevrières|Les Referts
|Les Combettes|Champ Gain|La Garenne|Les Folatières|Clos de la Garenne|Les Chenevottes|Morgeot
|La Boudriotte|Les Vergers|Les Ruchottes|Clavoillon|Les Pucelles|Les Cazetiers|Lavaut Saint-Jacques
|Les Fuées|Les Cras|Les Sentiers|Les Chaffots|Clos des Ormes|Les Murgers|Aux Boudots|Les Vaucrains
|Les Pruliers|Les Damodes|Les Suchots|Les Beaux Monts|Clos des Mouches|Les Grèves|Les Bressandes
|Les Epenots|Les Rugiens|Clos des Chênes|Les Santenots|Les Fourneaux|Vaillons|Montmains
|Fourchaume|Montée de Tonnerre|Mont de Milieu|Vaulorent|Les Lys""",
    "|",
)
CUVEES = _list(
    """Vieilles Vignes|Cuvée Prestige|Réserve|Les Terrasses|Tradition|Grande Réserve|Sélection
|Les Galets|La Sagesse|Cuvée des Générations|Les Hauts|L'Esprit|Terre de Feu|Les Coteaux
|Cuvée Spéciale|Le Clos|La Réserve|Les Vignes Hautes|Cuvée Mademoiselle|Les Grands Bois
|Fût de Chêne|Les Sables|Cuvée de l'Écu|Les Cailloux|Le Pigeonnier""",
    "|",
)
BORDEAUX = [
    "Pauillac",
    "Margaux",
    "Saint-Julien",
    "Saint-Estèphe",
    "Pessac-Léognan",
    "Saint-Émilion Grand Cru",
    "Pomerol",
    "Haut-Médoc",
    "Médoc",
    "Listrac-Médoc",
    "Moulis-en-Médoc",
    "Graves",
    "Sauternes",
    "Lalande-de-Pomerol",
    "Fronsac",
    "Côtes de Bourg",
    "Blaye Côtes de Bordeaux",
    "Bordeaux Supérieur",
]
BURGUNDY = [
    "Puligny-Montrachet",
    "Chassagne-Montrachet",
    "Meursault",
    "Gevrey-Chambertin",
    "Chambolle-Musigny",
    "Vosne-Romanée",
    "Nuits-Saint-Georges",
    "Morey-Saint-Denis",
    "Pommard",
    "Volnay",
    "Beaune",
    "Savigny-lès-Beaune",
    "Santenay",
    "Marsannay",
    "Fixin",
    "Aloxe-Corton",
    "Chablis",
    "Saint-Aubin",
    "Mercurey",
    "Rully",
    "Givry",
]
ELSEWHERE = [
    ("Côtes du Rhône", "rouge"),
    ("Côtes du Rhône Villages", "rouge"),
    ("Châteauneuf-du-Pape", "rouge"),
    ("Gigondas", "rouge"),
    ("Vacqueyras", "rouge"),
    ("Crozes-Hermitage", "rouge"),
    ("Saint-Joseph", "rouge"),
    ("Cornas", "rouge"),
    ("Côte-Rôtie", "rouge"),
    ("Condrieu", "blanc"),
    ("Sancerre", "blanc"),
    ("Pouilly-Fumé", "blanc"),
    ("Vouvray", "blanc"),
    ("Chinon", "rouge"),
    ("Saumur-Champigny", "rouge"),
    ("Bourgueil", "rouge"),
    ("Muscadet", "blanc"),
    ("Savennières", "blanc"),
    ("Bandol", "rouge"),
    ("Bandol", "rosé"),
    ("Côtes de Provence", "rosé"),
    ("Cahors", "rouge"),
    ("Madiran", "rouge"),
    ("Minervois", "rouge"),
    ("Corbières", "rouge"),
    ("Faugères", "rouge"),
    ("Pic Saint-Loup", "rouge"),
    ("Saint-Chinian", "rouge"),
    ("Morgon", "rouge"),
    ("Fleurie", "rouge"),
    ("Moulin-à-Vent", "rouge"),
    ("Alsace", "blanc"),
    ("Jurançon", "blanc"),
    ("Arbois", "blanc"),
    ("Tavel", "rosé"),
]
ESTATES = ["Domaine", "Domaine de", "Château", "Mas", "Clos", "Domaine du"]
GRAPES = ["Riesling", "Gewurztraminer", "Pinot Gris", "Sylvaner", "Pinot Blanc"]
CHAMPAGNE = [
    "Brut Réserve",
    "Brut Nature",
    "Blanc de Blancs",
    "Blanc de Noirs",
    "Rosé",
    "Extra Brut",
    "Cuvée Prestige",
    "Premier Cru Brut",
    "Grand Cru Brut",
]


ONSETS = _list("""Ber Cha Du Fon Gar La Mar Ro Val Bou Cour Mon Pey Sau Ver Bel Cas Dau Es Fer
Gui Jo Lan Mau Nau Pra Rou Ta Vi Bra Cla Gri Tro""")
ENDINGS = _list("""nard teau ssac rieu zac mont vert lin chet ron det sson gnac lard beau
quet vin card lot nier taud rand mas gey zin""")


def _surnames(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct surnames: the real ones, then made ones (``Bernardzac``), shuffled:
    a cellar this large holds thousands of producers, each with its own name."""
    made = {f"{a}{b}{c}" for a in ONSETS for b in ENDINGS for c in ("", "ac", "et", "in", "ot")}
    names = list(dict.fromkeys(SURNAMES + sorted(made)))[:count]
    rng.shuffle(names)
    return names


def _items_of(rng: random.Random, vintages: list[int | None]) -> list[tuple[int | None, float]]:
    volumes = [75.0]
    if rng.random() < 0.12:
        volumes.append(150.0)
    if rng.random() < 0.06:
        volumes.append(37.5)
    return [(v, volume) for v in vintages for volume in volumes]


def _vintages(rng: random.Random, low: int = 2005, high: int = 2023) -> list[int | None]:
    count = rng.choice((1, 1, 2, 2, 3, 3, 4, 5))
    return sorted(rng.sample(range(low, high + 1), count))


def _wines(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """About ``count`` items' worth of wines: dicts with name, producer, appellation,
    colour and items [(vintage, volume)]."""
    wines: list[dict[str, Any]] = []
    used: set[str] = set()
    total = 0
    surnames = iter(_surnames(rng, 10_000))

    def producer_name(make: Any) -> str:
        name = make()
        while name in used:
            name = f"{make()} {rng.choice(PLACES + SURNAMES)}"
        used.add(name)
        return name

    def add(name: str, producer: str, appellation: str, colour: str, vintages: list) -> None:
        nonlocal total
        items = _items_of(rng, vintages)
        wines.append(
            dict(name=name, producer=producer, appellation=appellation, colour=colour, items=items)
        )
        total += len(items)

    while total < count:
        kind = rng.random()
        if kind < 0.35:
            place = producer_name(
                lambda: (
                    rng.choice(PLACES) + (f" {rng.choice(PLACES)}" if rng.random() < 0.6 else "")
                )
            )
            producer = f"Château {place}"
            appellation = rng.choice(BORDEAUX)
            add(producer, producer, appellation, "rouge", _vintages(rng))
            if rng.random() < 0.5:
                second = rng.choice(
                    [
                        "Les Fiefs de",
                        "La Réserve de",
                        "Le Petit",
                        "Les Allées de",
                        "La Dame de",
                        "Le Second de",
                    ]
                )
                add(f"{second} {place}", producer, appellation, "rouge", _vintages(rng))
            if rng.random() < 0.2:
                add(f"{producer} Blanc", producer, appellation, "blanc", _vintages(rng))
        elif kind < 0.65:
            person = producer_name(lambda: f"{rng.choice(FIRST_NAMES)} {next(surnames)}")
            producer = f"Domaine {person}" if rng.random() < 0.8 else person
            villages = rng.sample(BURGUNDY, rng.choice((1, 2, 2, 3)))
            for village in villages:
                colour = (
                    "blanc"
                    if village
                    in (
                        "Puligny-Montrachet",
                        "Chassagne-Montrachet",
                        "Meursault",
                        "Chablis",
                        "Saint-Aubin",
                        "Rully",
                    )
                    else "rouge"
                )
                add(village, producer, village, colour, _vintages(rng))
                for climat in rng.sample(CLIMATS, rng.choice((0, 0, 1, 2))):
                    add(f"{village} 1er Cru {climat}", producer, village, colour, _vintages(rng))
                if rng.random() < 0.2:
                    add(f"{village} Vieilles Vignes", producer, village, colour, _vintages(rng))
            if rng.random() < 0.4:
                colour = rng.choice(("rouge", "blanc"))
                add(
                    f"Bourgogne {colour.capitalize()}",
                    producer,
                    "Bourgogne",
                    colour,
                    _vintages(rng),
                )
        elif kind < 0.9:
            producer = producer_name(lambda: f"{rng.choice(ESTATES)} {next(surnames)}")
            appellation, colour = rng.choice(ELSEWHERE)
            if appellation == "Alsace":
                for grape in rng.sample(GRAPES, rng.choice((1, 2, 3))):
                    add(grape, producer, "Alsace", "blanc", _vintages(rng))
                continue
            add(appellation, producer, appellation, colour, _vintages(rng))
            for cuvee in rng.sample(CUVEES, rng.choice((0, 1, 1, 2))):
                add(f"{appellation} {cuvee}", producer, appellation, colour, _vintages(rng))
        else:
            house = producer_name(
                lambda: (
                    rng.choice(SURNAMES)
                    + (f"-{rng.choice(SURNAMES)}" if rng.random() < 0.3 else "")
                )
            )
            for style in rng.sample(CHAMPAGNE, rng.choice((1, 2, 3))):
                colour = "rosé" if "Rosé" in style else "blanc"
                add(style, house, "Champagne", colour, [None])
            if rng.random() < 0.4:
                add(f"{house} Millésime", house, "Champagne", "blanc", _vintages(rng, 2008, 2016))
    return wines


def make_cellar(
    count: int, seed: int = SEED
) -> tuple[pd.DataFrame, list[dict[str, Any]], list[dict[str, Any]]]:
    """(items, cellar wines, absent wines): exactly ``count`` items, each cellar wine with
    ``key`` and its ``rows`` [(item, vintage, volume)]."""
    rng = random.Random(seed)
    generated = _wines(rng, int(count / (1 - ABSENT_SHARE)) + 50)
    rng.shuffle(generated)
    cellar, absent, rows = [], [], []
    producers = sorted({wine["producer"] for wine in generated})
    gone = set(rng.sample(producers, int(len(producers) * ABSENT_SHARE * 0.7)))
    for number, wine in enumerate(generated):
        wine["key"] = f"W{number:06d}"
        left_out = wine["producer"] in gone or rng.random() < ABSENT_SHARE * 0.3
        if left_out or len(rows) >= count:
            absent.append(wine)
            continue
        wine["rows"] = []
        for vintage, volume in wine["items"]:
            if len(rows) >= count:
                break
            item = f"SOM-{len(rows) + 1:06d}"
            rows.append(
                (
                    item,
                    wine["name"],
                    wine["producer"],
                    wine["appellation"],
                    wine["colour"],
                    vintage,
                    volume,
                )
            )
            wine["rows"].append((item, vintage, volume))
        if wine["rows"]:
            cellar.append(wine)
    frame = pd.DataFrame(
        rows, columns=["item", "name", "producer", "appellation", "colour", "vintage", "volume"]
    )
    frame["vintage"] = frame["vintage"].astype("Int64")
    return frame, cellar, absent


def make_labels(
    cellar: list[dict], absent: list[dict], count: int, seed: int = SEED
) -> list[dict[str, Any]]:
    """``count`` labels with their truth: 62 % of a vintage in the cellar, 23 % of one it
    lacks, 15 % of a wine it lacks."""
    from bench.ambiguity import Describer
    from tests.pointex.labelled import resolve, shout, till_label

    describer = Describer(cellar)
    rng = random.Random(seed + 1)
    same_name: dict[str, list[dict]] = defaultdict(list)
    for wine in cellar:
        same_name[shout(wine["name"])].append(wine)
    labels = []
    for _ in range(count):
        pick = rng.random()
        wine = rng.choice(absent) if pick > 0.85 else rng.choice(cellar)
        source = wine.get("rows") or [(None, v, vol) for v, vol in wine["items"]]
        dated = sorted({v for _, v, _ in source if v is not None})
        if pick <= 0.62 or pick > 0.85 or not dated:
            _, vintage, volume = rng.choice(source)
        else:
            gaps = [v for v in range(min(dated) - 3, max(dated) + 4) if v not in dated and v < 2025]
            vintage, volume = rng.choice(gaps), 75.0
        others = [w for w in same_name[shout(wine["name"])] if w is not wine]
        label, shown = till_label(
            rng,
            wine["name"],
            wine["producer"],
            wine["appellation"],
            wine["colour"],
            vintage,
            volume,
            colour_needed=any(
                w["colour"] != wine["colour"] and w["producer"] == wine["producer"] for w in others
            ),
            producer_needed=any(w["producer"] != wine["producer"] for w in others),
        )
        if "rows" in wine:
            case = resolve(
                label, wine["rows"], wine["rows"], frozenset({wine["key"]}), shown, volume
            )
            alike = (
                describer.alike(label, wine["key"], shown, sorted(case.items))
                if case.answer == "yes"
                else []
            )
            labels.append(
                {
                    "label": label,
                    "answer": case.answer,
                    "items": sorted(case.items),
                    "alike": alike,
                    "wine": wine["key"],
                }
            )
        else:
            labels.append({"label": label, "answer": "no", "items": [], "wine": None})
    return labels


# -- the case: prepare, run (in its own worker), check, judge ---------------------------------


def prepare(case: Case, folder: Path, ledger: str, reference: bool) -> tuple[dict, dict]:
    """Write the cellar (Parquet) and the labels with their truth (JSON) into ``folder``."""
    items, cellar, absent = make_cellar(case.articles)
    labels = make_labels(cellar, absent, case.labels)
    items.to_parquet(folder / "cellar.parquet")
    wine_of = {item: wine["key"] for wine in cellar for item, _, _ in wine["rows"]}
    (folder / "labels.json").write_text(json.dumps({"labels": labels, "wine_of": wine_of}))
    plan = {
        "cellar": str(folder / "cellar.parquet"),
        "labels": str(folder / "labels.json"),
        "reference": reference,
    }
    answers = defaultdict(int)
    for label in labels:
        answers[label["answer"]] += 1
    expected = {"items": len(items), "wines": len(cellar), "labels": len(labels), **answers}
    return plan, expected


LABEL_YEAR = re.compile(r"(?:^|\s)(?:'|’)?((?:19|20)\d\d|\d\d)(?=\s|$)")


def reference_answer(label: str, score: float, vintage: int | None) -> str:
    """The reference's answer: ``no`` under REFERENCE_THRESHOLD, else ``yes`` when the
    label's last year equals the chosen item's vintage, else ``almost``."""
    if score < REFERENCE_THRESHOLD:
        return "no"
    found = LABEL_YEAR.findall(label)
    year = None
    if found:
        text = found[-1]
        year = (
            int(text)
            if len(text) == 4
            else 2000 + int(text)
            if int(text) < 30
            else 1900 + int(text)
        )
    return "yes" if year == vintage else "almost"


def accuracy(labels: list[dict], firsts: list[tuple[str | None, str]], wine_of: dict) -> dict:
    """Top-1 on yes labels, right wine on almost labels, right answer overall."""
    counts = defaultdict(int)
    for truth, (item, answer) in zip(labels, firsts, strict=True):
        counts["labels"] += 1
        counts["answers_right"] += answer == truth["answer"]
        if truth["answer"] == "yes":
            counts["yes"] += 1
            counts["yes_top1"] += item in truth["items"]
            counts["yes_top1_alike"] += item in truth["items"] or item in truth.get("alike", ())
            counts["yes_ambiguous"] += bool(truth.get("alike"))
        elif truth["answer"] == "almost":
            counts["almost"] += 1
            counts["almost_wine"] += item is not None and wine_of.get(item) == truth["wine"]
    return {
        **counts,
        "top1_yes": counts["yes_top1"] / max(counts["yes"], 1),
        "top1_yes_alike": counts["yes_top1_alike"] / max(counts["yes"], 1),
        "wine_almost": counts["almost_wine"] / max(counts["almost"], 1),
        "answer": counts["answers_right"] / max(counts["labels"], 1),
    }


def run_case(case: dict[str, Any], profile: str | None) -> dict[str, Any]:
    from rapidfuzz import process

    from stockbridge.integrations.pointex.matching import CellarIndex

    items = pd.read_parquet(case["cellar"])
    data = json.loads(Path(case["labels"]).read_text())
    labels, wine_of = data["labels"], data["wine_of"]
    texts = [label["label"] for label in labels]
    CellarIndex(items.head(200)).suggest_many(texts[:5])  # imports and thread pools, untimed

    load_before = machine_load()
    with PeakMemory() as memory, Profiled(profile, case["name"]) if profile else _Nothing():
        cpu_start, start = cpu_seconds(), time.perf_counter()
        index = CellarIndex(items)
        built, built_cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
        found = index.suggest_many(texts)
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    load_after = machine_load()
    ours = accuracy(
        labels,
        [(f[0].item, f[0].answer) if f else (None, "no") for f in found],
        wine_of,
    )
    _say(
        f"ours: index {built:.2f} s, suggestions {seconds - built:.2f} s, total {seconds:.2f} s"
        f" (CPU {cpu:.2f} s); top-1 yes {ours['top1_yes']:.1%}, right wine almost"
        f" {ours['wine_almost']:.1%}, answer {ours['answer']:.1%}"
    )
    result: dict[str, Any] = {
        "marginal_seconds": seconds,
        "marginal_cpu_seconds": cpu,
        "index_seconds": built,
        "index_cpu_seconds": built_cpu,
        "suggest_seconds": seconds - built,
        "load_before": load_before,
        "load_after": load_after,
        "memory": memory.to_json(),
        "lists": len(found),
        "suggestions": sum(len(f) for f in found),
        "accuracy": ours,
    }
    if case.get("reference"):
        vintages = [None if pd.isna(v) else int(v) for v in items["vintage"]]
        choices = [
            f"{name} {vintage}" if vintage is not None else name
            for name, vintage in zip(items["name"], vintages, strict=True)
        ]
        ids = list(items["item"])
        cpu_start, start = cpu_seconds(), time.perf_counter()
        picks = [process.extractOne(text, choices) for text in texts]
        ref_seconds, ref_cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
        firsts = [
            (ids[index], reference_answer(text, score, vintages[index]))
            if pick is not None
            else (None, "no")
            for text, pick in zip(texts, picks, strict=True)
            for _, score, index in [pick or (None, 0.0, 0)]
        ]
        result["reference"] = {
            "estimate_seconds": ref_seconds,
            "estimate_cpu_seconds": ref_cpu,
            "accuracy": accuracy(labels, firsts, wine_of),
            "threshold": REFERENCE_THRESHOLD,
        }
        reference = result["reference"]["accuracy"]
        _say(
            f"reference: {ref_seconds:.2f} s (CPU {ref_cpu:.2f} s); top-1 yes"
            f" {reference['top1_yes']:.1%}, right wine almost {reference['wine_almost']:.1%},"
            f" answer {reference['answer']:.1%}"
        )
    return result


class _Nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _say(message: str) -> None:
    print(f"    {message}", flush=True)


def check(case: Case, plan: dict, expected: dict, result: dict) -> list[str]:
    """Correctness: one suggestion list per label, each at most 5 long."""
    problems = []
    if result.get("lists") != expected["labels"]:
        problems.append(f"{result.get('lists')} suggestion lists for {expected['labels']} labels")
    if result.get("suggestions", 0) > 5 * expected["labels"]:
        problems.append(f"{result['suggestions']} suggestions: more than 5 a label")
    return problems


def misses(case: Case, result: dict) -> list[str]:
    """Accuracy goals missed (the time goal is judged like every case's ratio)."""
    found = result.get("accuracy") or {}
    missed = []
    if found.get("top1_yes", 1.0) < GOALS["top1_yes"]:
        missed.append(f"top-1 on yes {found['top1_yes']:.1%} < {GOALS['top1_yes']:.0%}")
    if found.get("answer", 1.0) < GOALS["answer"]:
        missed.append(f"answer accuracy {found['answer']:.1%} < {GOALS['answer']:.0%}")
    return missed


def describe(entry: dict) -> list[str]:
    """Lines printed under the table: both methods' accuracies and how the reference
    answers."""
    raw = entry.get("raw") or {}
    lines = []
    for who, found in (
        ("ours", raw.get("accuracy")),
        ("reference", (raw.get("reference") or {}).get("accuracy")),
    ):
        if not found:
            continue
        lines.append(
            f"{who}: top-1 on yes {found['top1_yes']:.1%} ({found['yes_top1']}/{found['yes']}),"
            f" {found.get('top1_yes_alike', 0):.1%} counting items the label describes as well"
            f" ({found.get('yes_ambiguous', 0)} yes labels fit more than one item),"
            f" right wine on almost {found['wine_almost']:.1%}"
            f" ({found['almost_wine']}/{found['almost']}), right answer {found['answer']:.1%}"
            f" ({found['answers_right']}/{found['labels']})"
        )
    if raw.get("index_seconds") is not None:
        lines.append(
            f"ours = CellarIndex {raw['index_seconds']:.2f} s + suggest_many"
            f" {raw['suggest_seconds']:.2f} s; reference = process.extractOne(label, choices),"
            f' WRatio on raw f"{{name}} {{vintage}}", one call a label; its answer: no under'
            f" score {REFERENCE_THRESHOLD:g}, else yes if the label's last year = the item's"
            " vintage, else almost"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.matching")
    parser.add_argument("--plan", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--profile", default=None, help="folder for pyinstrument profiles")
    args = parser.parse_args(argv)
    plan = json.loads(Path(args.plan).read_text())
    start = time.perf_counter()
    import rapidfuzz  # noqa: F401

    import stockbridge.integrations.pointex.matching  # noqa: F401

    results: dict[str, Any] = {
        "import_seconds": time.perf_counter() - start,
        "code": code_revision(),
        "cases": {},
    }
    for case in plan["cases"]:
        print(f"  {case['name']}: {case['title']}", flush=True)
        try:
            results["cases"][case["name"]] = run_case(case, args.profile)
            results["cases"][case["name"]]["code"] = results["code"]
        except Exception:
            text = traceback.format_exc()
            print(text, file=sys.stderr, flush=True)
            print(f"    FAILED: {text.strip().splitlines()[-1]}", flush=True)
            results["cases"][case["name"]] = {"error": text}
        Path(args.out).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
