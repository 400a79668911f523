"""The cellar matching engine: label parsing, the yes/almost/no rules, accuracy on the
held-out labelled set, and the hard rule that a vintage difference never passes as yes."""

from __future__ import annotations

import math
import random

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from stockbridge.integrations.pointex.labels import two_digit_year
from stockbridge.integrations.pointex.matching import (
    CellarIndex,
    ParsedLabel,
    Suggestion,
    parse_label,
)
from tests.pointex import labelled

# -- parse_label ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "wine"),
    [
        ("CH MARGAUX", "chateau margaux"),
        ("CHT MARGAUX", "chateau margaux"),
        ("CH. MARGAUX", "chateau margaux"),
        ("DOM LEFLAIVE", "domaine leflaive"),
        ("DNE LEFLAIVE", "domaine leflaive"),
        ("ST JULIEN", "saint julien"),
        ("ST-JULIEN", "saint julien"),
        ("CLOS STE HUNE", "clos sainte hune"),
        ("MEURSAULT 1ER PERRIERES", "meursault premier cru perrieres"),
        ("MEURSAULT 1ER CRU PERRIERES", "meursault premier cru perrieres"),
        ("CHAMBERTIN GC", "chambertin grand cru"),
        ("GEVREY VV", "gevrey vieilles vignes"),
        ("CDR GUIGAL", "cotes rhone guigal"),
        ("RUINART BDB", "ruinart blanc blancs"),
        ("Côtes-du-Rhône Villages", "cotes rhone villages"),
        ("CHATEAU D'YQUEM", "chateau yquem"),
        ("HUET LE MONT DEMI-SEC", "huet mont demisec"),
        ("TAYLOR TAWNY 20 ANS", "taylor tawny 20ans"),
        ("BOLLINGER R.D.", "bollinger rd"),
        ("CH9DP BEAUCASTEL", "chateauneuf pape beaucastel"),
        ("PEYSSAC M 2011 VERRE", "peyssac m"),
        ("CH MARGAUX 15 V", "chateau margaux"),
        ("CH D YQUEM 15", "chateau yquem"),
        ("KRUG BRUT SA", "krug brut"),
        ("VERRE NAUBEAU SA '07", "naubeau sa"),
    ],
)
def test_words_are_normalised_and_abbreviations_expanded(label: str, wine: str) -> None:
    assert parse_label(label).wine == wine


@pytest.mark.parametrize(
    ("label", "vintage"),
    [
        ("CH MARGAUX 2015", 2015),
        ("CH MARGAUX 15", 2015),
        ("CH MARGAUX '15", 2015),
        ("CH MARGAUX ’15", 2015),
        ("CH MARGAUX 98", 1998),
        ("CH MARGAUX 2015 BTL", 2015),
        ("MARGAUX2015MAG", 2015),
        ("VRE 15 CH MARGAUX", 2015),
        ("CUVEE 33 15", 2015),
        ("UNICO VEGA SICILIA 11 75", 2011),
        ("SASSICAIA 75CL 16", 2016),
        ("SASSICAIA 16 75 CL", 2016),
        ("KRUG GRANDE CUVEE", None),
        ("TAYLOR TAWNY 20 ANS", None),
        ("ROEDERER COLLECTION 243", None),
    ],
)
def test_vintage_is_taken_out(label: str, vintage: int | None) -> None:
    parsed = parse_label(label)
    assert parsed.vintage == vintage
    if vintage is not None:
        assert not {str(vintage), f"{vintage % 100:02d}"} & set(parsed.wine.split())


def test_two_digit_years_never_land_decades_ahead() -> None:
    from datetime import date

    assert two_digit_year(15, date(2026, 1, 1)) == 2015
    assert two_digit_year(27, date(2026, 1, 1)) == 2027
    assert two_digit_year(28, date(2026, 1, 1)) == 1928


@pytest.mark.parametrize(
    ("label", "shape", "volume"),
    [
        ("CH MARGAUX 15 BTL", "bottle", 75.0),
        ("CH MARGAUX 15 BOUT", "bottle", 75.0),
        ("CH MARGAUX 15 MAG", "magnum", 150.0),
        ("CH MARGAUX 15 MAGNUM", "magnum", 150.0),
        ("CH MARGAUX 15 1.5L", "magnum", 150.0),
        ("CH MARGAUX 15 150CL", "magnum", 150.0),
        ("YQUEM 09 DEMI", "half", 37.5),
        ("YQUEM 09 DEMI BTL", "half", 37.5),
        ("YQUEM 09 1/2", "half", 37.5),
        ("YQUEM 09 37,5CL", "half", 37.5),
        ("YQUEM 09 37.5", "half", 37.5),
        ("VERRE CDR 20", "glass", None),
        ("VRE CDR 20", "glass", None),
        ("GL CDR 20", "glass", None),
        ("CDR 20 VER", "glass", None),
        ("CDR 20", None, None),
        ("HUET LE MONT DEMI SEC 18", None, None),
    ],
)
def test_format_and_volume_are_taken_out(
    label: str, shape: str | None, volume: float | None
) -> None:
    parsed = parse_label(label)
    assert (parsed.format, parsed.volume_cl) == (shape, volume)
    assert not {"btl", "bout", "mag", "magnum", "demi", "verre", "vre", "gl"} & set(
        parsed.wine.split()
    )


def test_cut_labels_keep_what_is_left() -> None:
    assert parse_label("DOM LEFLAIVE PULIGNY-MO") == ParsedLabel(
        "domaine leflaive puligny mo", None, None, None
    )
    assert parse_label("CH PICHON LONGUEVILLE ").wine == "chateau pichon longueville"
    assert parse_label("MOUTON ROTHSCHILD 09 VE").vintage == 2009
    # After an apostrophe vintage too, a cut word is a format's.
    assert parse_label("BRACARDAC CHABL '18 VERR") == ParsedLabel(
        "bracardac chabl", 2018, "glass", None
    )
    assert parse_label("CH MARGAUX '15 '16") == ParsedLabel("chateau margaux", 2016, None, None)


# -- the rules on a small cellar --------------------------------------------------------------


def cellar(rows: list[tuple], vintage_dtype: object = "Int64") -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["item", "name", "producer", "vintage", "volume"])
    frame["vintage"] = frame["vintage"].astype(vintage_dtype)
    return frame


SMALL = [
    ("M10", "Château Margaux", "Château Margaux", 2010, 75),
    ("M15", "Château Margaux", "Château Margaux", 2015, 75),
    ("M15MAG", "Château Margaux", "Château Margaux", 2015, 150),
    ("M16", "Château Margaux", "Château Margaux", 2016, 75),
    ("PR15", "Pavillon Rouge du Château Margaux", "Château Margaux", 2015, 75),
    ("TAL18", "Château Talbot", "Château Talbot", 2018, 75),
    ("KRUG", "Krug Grande Cuvée", "Krug", None, 75),
    ("KRUGV08", "Krug Vintage", "Krug", 2008, 75),
]


@pytest.fixture(scope="module")
def small() -> CellarIndex:
    return CellarIndex(cellar(SMALL))


def test_same_wine_same_vintage_is_yes(small: CellarIndex) -> None:
    found = small.suggest("CH MARGAUX 2015")
    assert found[0] == Suggestion("M15", "Château Margaux", 2015, found[0].score, "yes")
    assert found[0].score >= 90


def test_format_chooses_the_item_not_the_answer(small: CellarIndex) -> None:
    assert [s.item for s in small.suggest("CH MARGAUX 15 MAG")[:2]] == ["M15MAG", "M15"]
    assert [s.answer for s in small.suggest("CH MARGAUX 15 MAG")[:2]] == ["yes", "yes"]
    assert small.suggest("VERRE CH MARGAUX 15")[0].item == "M15"


def test_vintage_not_in_the_cellar_is_almost_with_the_closest_vintage(small: CellarIndex) -> None:
    found = small.suggest("CH MARGAUX 2014")
    assert (found[0].item, found[0].answer) == ("M15", "almost")
    assert all(s.answer != "yes" for s in found)
    # 2012 is two years from 2010 and three from 2015.
    assert small.suggest("CH MARGAUX 12")[0].item == "M10"


def test_a_newer_vintage_wins_a_tie() -> None:
    rows = [("A", "Clos Rougeard", "", 2014, 75), ("B", "Clos Rougeard", "", 2016, 75)]
    found = CellarIndex(cellar(rows)).suggest("CLOS ROUGEARD 15")
    assert [(s.item, s.answer) for s in found] == [("B", "almost"), ("A", "almost")]


def test_label_without_vintage(small: CellarIndex) -> None:
    found = small.suggest("CH TALBOT")
    assert (found[0].item, found[0].answer) == ("TAL18", "yes")  # its only vintage
    found = small.suggest("CH MARGAUX BTL")
    assert (found[0].item, found[0].answer) == ("M16", "almost")  # several: the newest
    found = small.suggest("KRUG GDE CUVEE")
    assert (found[0].item, found[0].answer) == ("KRUG", "yes")  # non-vintage


def test_vintage_label_for_a_non_vintage_wine_is_almost(small: CellarIndex) -> None:
    found = small.suggest("KRUG GRANDE CUVEE 2012")
    assert (found[0].item, found[0].answer) == ("KRUG", "almost")


def test_another_cuvee_of_the_producer_is_not_the_wine() -> None:
    index = CellarIndex(cellar([row for row in SMALL if not row[0].startswith("M")]))
    found = index.suggest("CH MARGAUX 2015")
    assert not found or found[0].answer == "no"


def test_the_producers_only_wine_in_the_labels_vintage() -> None:
    # A label cut down to the producer and the vintage: of the producer's wines only the
    # vieilles vignes has a 2007, so the label names it as well as a one-wine producer's.
    rows = [
        ("V12", "Morey-Saint-Denis", "Domaine Valchetac", 2012, 75),
        ("V18", "Morey-Saint-Denis", "Domaine Valchetac", 2018, 75),
        ("VV05", "Morey-Saint-Denis Vieilles Vignes", "Domaine Valchetac", 2005, 75),
        ("VV07", "Morey-Saint-Denis Vieilles Vignes", "Domaine Valchetac", 2007, 75),
        ("F18", "Fixin", "Domaine Valchetac", 2018, 75),
        ("R07", "Morey-Saint-Denis", "Domaine Roblot", 2007, 75),
    ]
    index = CellarIndex(cellar(rows))
    found = index.suggest("VALCHETAC 2007 BOUT")
    assert (found[0].item, found[0].answer) == ("VV07", "yes")
    # Two of the producer's wines have a 2018: the label names neither.
    assert all(s.answer == "no" for s in index.suggest("VALCHETAC 2018"))


def test_a_word_cut_to_one_letter_starts_the_rest_of_the_name() -> None:
    rows = [
        ("VAU", "Mercurey 1er Cru Les Vaucrains", "Domaine Dulotot", 2023, 75),
        ("RUG", "Mercurey 1er Cru Les Rugiens", "Domaine Dulotot", 2023, 75),
        ("MER", "Mercurey", "Domaine Dulotot", 2023, 75),
        ("BR", "Bourgogne Rouge", "Domaine Dulotot", 2022, 75),
        ("BB", "Bourgogne Blanc", "Domaine Dulotot", 2022, 75),
        ("GEV", "Gevrey-Chambertin", "Domaine Roblot", 2022, 75),
    ]
    index = CellarIndex(cellar(rows))
    for label, item in [("DULOTOT MERCU 1ER V 23", "VAU"), ("DULOTOT BOURG R 22", "BR")]:
        found = index.suggest(label)
        assert (found[0].item, found[0].answer) == (item, "yes"), (label, found)
        assert found[1].answer == "no", (label, found)  # the letter tells the sibling apart


def test_a_shortened_word_that_is_also_a_word() -> None:
    # BOURG is how staff shorten Bourgogne, although Côtes de Bourg makes it a word too.
    rows = [
        ("BR17", "Bourgogne Rouge", "Domaine Rouchetot", 2017, 75),
        ("GIV17", "Givry", "Domaine Rouchetot", 2017, 75),
        ("CDB17", "Côtes de Bourg", "Château Roc de Cambes", 2017, 75),
        ("GEV", "Gevrey-Chambertin", "Domaine Roblot", 2017, 75),
    ]
    index = CellarIndex(cellar(rows))
    found = index.suggest("ROUCHETOT BOURG RG 2017 37.5CL")
    assert (found[0].item, found[0].answer) == ("BR17", "yes")
    found = index.suggest("COTES DE BOURG 17")
    assert (found[0].item, found[0].answer) == ("CDB17", "yes")
    assert all(s.answer == "no" for s in found[1:])


def test_a_chateaus_wine_named_otherwise_is_named_by_its_producer() -> None:
    # Château Courgeyin's wines carry the appellation's name, not the château's: naming the
    # château and the vintage names its only 2008. A second wine carries the château's
    # name: CH MARGAUX is the grand vin, even in a vintage only the second wine has.
    rows = [
        ("V18", "Vacqueyras", "Château Courgeyin", 2018, 75),
        ("V20", "Vacqueyras", "Château Courgeyin", 2020, 75),
        ("G08", "Vacqueyras Les Galets", "Château Courgeyin", 2008, 75),
        ("G13", "Vacqueyras Les Galets", "Château Courgeyin", 2013, 75),
        ("GA08", "Gigondas", "Domaine Roblot", 2008, 75),
        ("M15", "Château Margaux", "Château Margaux", 2015, 75),
        ("PR16", "Pavillon Rouge du Château Margaux", "Château Margaux", 2016, 75),
    ]
    index = CellarIndex(cellar(rows))
    found = index.suggest("CH COURGEYIN 08")
    assert (found[0].item, found[0].answer) == ("G08", "yes")
    found = index.suggest("CH MARGAUX 2016")
    assert (found[0].item, found[0].answer) == ("M15", "almost")
    assert all(s.answer == "no" for s in found if s.item == "PR16")


def test_a_cut_word_weighs_what_it_tells_apart() -> None:
    # VA is the start of Vacqueyras for this label; one more wine with a rare word that
    # starts with VA (Clos du Val) must not make VA weigh like that rare word.
    rows = [
        ("V18", "Vacqueyras", "Domaine Courgeyin", 2018, 75),
        ("G08", "Vacqueyras Les Galets", "Domaine Courgeyin", 2008, 75),
        ("G13", "Vacqueyras Les Galets", "Domaine Courgeyin", 2013, 75),
        *[
            (f"F{n}{village}", village, f"Domaine Roblot {n}", 2008, 75)
            for n in range(20)
            for village in ("Vacqueyras", "Pommard")
        ],
    ]
    found = [
        CellarIndex(cellar(rows + extra)).suggest("GL COURGEYIN VA 2008")
        for extra in ([], [("VAL", "Gigondas", "Clos du Val", 2008, 75)])
    ]
    assert found[0][0].item == found[1][0].item == "G08"
    assert abs(found[0][0].score - found[1][0].score) < 1.0
    assert [s.answer for s in found[0]] == [s.answer for s in found[1]]


def test_sa_with_a_vintage_is_a_cut_word() -> None:
    # SA is "sans année" on a champagne's label; beside a vintage it is Saint-Aubin cut short.
    rows = [
        ("SA10", "Saint-Aubin", "Domaine Trobeauet", 2010, 75),
        ("ME10", "Meursault", "Domaine Trobeauet", 2010, 75),
        ("GEV", "Gevrey-Chambertin", "Domaine Roblot", 2010, 75),
    ]
    found = CellarIndex(cellar(rows)).suggest("TROBEAUET SA 10 BOUT")
    assert (found[0].item, found[0].answer) == ("SA10", "yes")
    assert found[1].answer == "no"


def test_a_last_word_that_starts_a_cellar_word_is_cut_not_mistyped() -> None:
    # COTEA is the start of Coteaux, not a typo of Cote (which every Côte-Rôtie has).
    rows = [
        ("CR09", "Côte-Rôtie", "Domaine Laquetet", 2009, 75),
        ("CR10", "Côte-Rôtie", "Domaine Daurandet", 2010, 75),
        ("CO09", "Côte-Rôtie Les Coteaux", "Mas Jomontac", 2009, 75),
        ("CO15", "Côte-Rôtie Les Coteaux", "Mas Jomontac", 2015, 75),
        ("CDR", "Côtes du Rhône", "Domaine Roblot", 2009, 75),
    ]
    found = CellarIndex(cellar(rows)).suggest("COTE-ROTIE COTEA 2009 VR")
    assert (found[0].item, found[0].answer) == ("CO09", "yes")
    assert all(s.answer == "no" for s in found if s.item.startswith("CR"))


def test_a_dated_sibling_of_a_matching_wine_matches() -> None:
    # The cut label names Clos Gribeauin's Saumur-Champigny, whose only 2013 is Les Hauts:
    # that is the label's wine, even when the plain wine only just matches.
    rows = [
        ("SC11", "Saumur-Champigny", "Clos Gribeauin", 2011, 75),
        ("LH09", "Saumur-Champigny Les Hauts", "Clos Gribeauin", 2009, 75),
        ("LH13", "Saumur-Champigny Les Hauts", "Clos Gribeauin", 2013, 75),
        ("SE18", "Saumur-Champigny Sélection", "Clos Gribeauin", 2018, 75),
        *[
            (f"F{n}{village}", village, f"Clos Roblot {n}", 2013, 75)
            for n in range(20)
            for village in ("Saumur-Champigny", "Chinon")
        ],
    ]
    found = CellarIndex(cellar(rows)).suggest("GRIB SAUMU 2013 VRE")
    assert (found[0].item, found[0].answer) == ("LH13", "yes")


def test_a_cut_name_may_leave_out_its_first_word() -> None:
    # HAUT-MARBUZE is the start of *Château Haut-Marbuzet Troplong Blanc* without its
    # "Château", cut by the till: the only one of the two châteaux with a 2020.
    troplong = ("Château Haut-Marbuzet Troplong Blanc", "Château Haut-Marbuzet Troplong")
    rows = [
        ("HM15", "Château Haut-Marbuzet", "Château Haut-Marbuzet", 2015, 75),
        ("HM21", "Château Haut-Marbuzet", "Château Haut-Marbuzet", 2021, 75),
        ("HT14", *troplong, 2014, 75),
        ("HT20", *troplong, 2020, 75),
        *[(f"F{n}", f"Château Roblot {n}", f"Château Roblot {n}", 2020, 75) for n in range(20)],
    ]
    index = CellarIndex(cellar(rows))
    found = index.suggest("HAUT-MARBUZE 20 75CL")
    assert (found[0].item, found[0].answer) == ("HT20", "yes")
    assert index.suggest("HAUT-MARBUZET 15 75CL")[0].item == "HM15"


def test_nothing_close_is_no(small: CellarIndex) -> None:
    for label in ("COCA COLA 33CL", "CH LATOUR 2010", "", "   "):
        found = small.suggest(label)
        assert not found or all(s.answer == "no" for s in found), label


def test_suggestions_are_best_first_limited_and_rounded(small: CellarIndex) -> None:
    for label in ("CH MARGAUX 15", "PAVILLON ROUGE 15", "KRUG", "CH MARGAUX 2011 MAG"):
        found = small.suggest(label, limit=3)
        assert 0 < len(found) <= 3
        scores = [s.score for s in found]
        assert scores == sorted(scores, reverse=True)
        assert all(0 <= s <= 100 and round(s, 1) == s for s in scores)
        matched = [s.answer != "no" for s in found]
        assert matched == sorted(matched, reverse=True)
    assert small.suggest_many(["CH MARGAUX 15", "KRUG"], limit=1) == [
        small.suggest("CH MARGAUX 15", limit=1),
        small.suggest("KRUG", limit=1),
    ]


@pytest.mark.parametrize(
    "dtype",
    ["Int64", "float64", "object", pd.ArrowDtype(pa.int64()), pd.ArrowDtype(pa.float64())],
)
def test_vintage_and_volume_dtypes(dtype: object) -> None:
    frame = cellar(SMALL, dtype if dtype != "object" else "Int64")
    if dtype == "object":
        frame["vintage"] = [None if pd.isna(v) else int(v) for v in frame["vintage"]]
        frame["vintage"] = frame["vintage"].astype(object)
    frame["volume"] = frame["volume"].astype("Float64")
    frame.loc[frame["item"] == "TAL18", "volume"] = None
    index = CellarIndex(frame)
    assert index.suggest("KRUG GDE CUVEE")[0].vintage is None
    found = index.suggest("CH MARGAUX 15")[0]
    assert found.vintage == 2015 and isinstance(found.vintage, int)
    assert index.suggest("CH TALBOT 18")[0].item == "TAL18"


def test_required_columns() -> None:
    with pytest.raises(ValueError, match="volume"):
        CellarIndex(pd.DataFrame({"item": ["a"], "name": ["x"], "vintage": [2015]}))


def test_every_cellar_name_finds_itself() -> None:
    index = CellarIndex(labelled.items())
    rows = list(labelled.catalogue().itertuples())
    wine_of = labelled.wine_of()
    labels = [
        f"{r.name} {r.producer or ''} {r.colour} {'' if pd.isna(r.vintage) else r.vintage}"
        for r in rows
    ]
    for row, found in zip(rows, index.suggest_many(labels), strict=True):
        assert found[0].answer == "yes", row.name
        assert wine_of[found[0].item] == wine_of[row.item]
        assert found[0].vintage == (None if pd.isna(row.vintage) else row.vintage)


# -- the labelled set -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def index() -> CellarIndex:
    return CellarIndex(labelled.items())


def test_held_out_accuracy(index: CellarIndex) -> None:
    cases = labelled.held_out()
    found = index.suggest_many([case.label for case in cases])
    scores = labelled.judge(cases, [labelled.first(f) for f in found], labelled.wine_of().get)
    assert (
        scores.yes > 300 and scores.almost > 80 and scores.total - scores.yes - scores.almost > 60
    )
    assert scores.top1_yes >= 0.90, scores.summary()
    assert scores.answer_accuracy >= 0.85, scores.summary()
    assert scores.wine_almost >= 0.85, scores.summary()


def test_labelled_set_is_deterministic_and_split() -> None:
    assert labelled.held_out() == labelled.held_out()
    tuning = {case.label for case in labelled.tuning()}
    held = [case.label for case in labelled.held_out()]
    assert len(held) > 500
    assert sum(label in tuning for label in held) < 0.1 * len(held)


DATED = [w for w in labelled.CELLAR if any(v is not None for v in w.vintages) and not w.same_as]
CELLAR_YEARS = {v for w in labelled.CELLAR for v in w.vintages if v is not None}


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    wine=st.sampled_from(DATED),
    vintage=st.integers(1950, 2026),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_vintage_difference_never_passes_as_yes(
    index: CellarIndex, wine: labelled.Wine, vintage: int, seed: int
) -> None:
    assume(vintage not in wine.vintages)
    colour, producer = labelled._needs(wine)
    label, shown = labelled.till_label(
        random.Random(seed),
        wine.name,
        wine.producer,
        wine.appellation,
        wine.colour,
        vintage,
        75.0,
        colour_needed=colour,
        producer_needed=producer,
    )
    assume(shown is not None)
    assert parse_label(label).vintage == vintage, label
    found = index.suggest(label)
    wine_of = labelled.wine_of()
    for suggestion in found:
        if suggestion.answer == "yes":
            assert suggestion.vintage == vintage, (label, suggestion)
            assert wine_of[suggestion.item] != (wine.same_as or wine.key), (label, suggestion)
    if vintage not in CELLAR_YEARS:
        assert all(s.answer != "yes" for s in found), (label, found)


def test_scores_are_finite(index: CellarIndex) -> None:
    for found in index.suggest_many(["", "12", "'15", "MAG", "VERRE", "CH", "A B C D"]):
        assert all(math.isfinite(s.score) for s in found)
