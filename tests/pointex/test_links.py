"""The owner's answers (``Cellar``) on a ledger a real ``pointex`` run filled, on each database.

Each test drops journals, runs the flow, answers, and checks the stock against a model
computed here from what it dropped and what it linked: the catalogue's opening stock, minus
each linked till code's sales, divided by its ``per`` and rounded half up once for the
code's whole total. Nothing else may move the stock.
"""

from __future__ import annotations

import math
from collections import defaultdict
from fractions import Fraction

import pytest

from stockbridge.integrations.pointex.links import Cellar, LinkError
from tests.pointex.store import FAMILIES, OPENING, CellarStore, line

pytestmark = pytest.mark.usefixtures("prefect_harness")


class Model:
    """What the stock must be, from what the test dropped and what it linked."""

    def __init__(self) -> None:
        self.sold: dict[str, int] = defaultdict(int)  # till code -> units, thousandths
        self.linked: dict[str, tuple[str, int]] = {}  # till code -> (item, per)

    def drop(self, store: CellarStore, name: str, rows: list[str], encoding: str) -> None:
        store.drop(name, rows, encoding)
        for row in rows:
            fields = row.split(";")
            if fields[5] in FAMILIES:
                self.sold[fields[3]] += int(Fraction(fields[6].replace(",", ".")) * 1000)

    def taken(self, code: str) -> int:
        """Thousandths of a stock unit the code's sales take, rounded half up."""
        _, per = self.linked[code]
        return math.floor(Fraction(self.sold[code], per) + Fraction(1, 2))

    def stock(self) -> dict[str, int]:
        expected = dict(OPENING)
        for code, (item, _) in self.linked.items():
            expected[item] = expected.get(item, 0) - self.taken(code)
        return expected


@pytest.fixture
def store(tmp_path, ledger_url) -> CellarStore:
    return CellarStore(tmp_path, ledger_url)


@pytest.fixture
def cellar(store):
    ledger = store.ledger()
    yield Cellar(ledger, store.name)
    ledger.close()


def waiting_codes(cellar: Cellar) -> dict[str, int]:
    return {w.till_reference: w.quantity for w in cellar.waiting()}


def test_answers_link_create_ignore_and_stay_exact(store, cellar):
    model = Model()
    model.drop(
        store,
        "journal-2026-11-27.csv",
        [
            line("0401", "CH MARGAUX 15", amount="480,00", ticket="1001"),
            line("0402", "CH TALBOT 17", amount="68,00"),
            line("0403", "CH TALBOT", "2", amount="136,00"),
            line("0404", "CAHORS CLOS TRIGUEDINA 19", amount="42,00"),
            line("0405", "SANCERRE VACHERON 22", family="Vins blancs"),
            line("0406", "SANCERRE VACHERON 23", family="Vins blancs"),
            line("0900", "BOUCHON", amount="0,00"),
            line("0777", "VIN DU MOIS"),
            line("0311", "PLANCHE MIXTE", "3", family="Cuisine"),
        ],
        "cp1252",
    )
    first = store.run()
    assert first.state == "completed", first.message
    assert (first.lines_applied, first.lines_held) == (0, 8)
    assert store.stock() == OPENING  # nothing linked: nothing moved
    assert waiting_codes(cellar) == {
        code: 1000 if code != "0403" else 2000
        for code in ("0401", "0402", "0403", "0404", "0405", "0406", "0900", "0777")
    }

    # yes: the first suggestion is Château Margaux 2015.
    [entry] = cellar.suggest([w for w in cellar.waiting() if w.till_reference == "0401"])
    assert (entry.suggestions[0].item, entry.suggestions[0].answer) == ("MARG15", "yes")
    done = cellar.yes("0401")
    assert (done.item, done.lines, done.stock_change, done.created) == ("MARG15", 1, -1000, False)
    model.linked["0401"] = ("MARG15", 1)

    # almost: Talbot 2017 is not in the cellar; it is created beside 2016 and 2018.
    done = cellar.almost("0402", 2017)
    assert done.created and done.item not in OPENING
    assert done.item in ("TALB17", "TALB-2017"), "the id spells the new vintage as its base did"
    assert (done.lines, done.stock_change) == (1, -1000)
    talbot_2017 = done.item
    model.linked["0402"] = (talbot_2017, 1)
    # almost to a vintage the cellar has: the existing bottle (not the magnum), nothing created.
    done = cellar.almost("0403", 2016, "TALB18")
    assert (done.item, done.created, done.lines, done.stock_change) == ("TALB16", False, 1, -2000)
    model.linked["0403"] = ("TALB16", 1)
    # Vacheron's Sancerre in 2023: Bourgeois's Sancerre 2023 is another wine.
    done = cellar.almost("0406", 2023, "SANC22")
    assert done.created and done.item not in OPENING, done
    assert done.item == "SANC23-2", "SANC23 is taken (Bourgeois's): the next free id"
    model.linked["0406"] = (done.item, 1)

    # no: a wine the cellar lacks, entered by hand.
    done = cellar.no("0404", "Cahors Clos Triguedina", 2019, "75")
    assert done.created and done.item == "manual-cahors-clos-triguedina-2019"
    model.linked["0404"] = (done.item, 1)

    # link: any existing item, named.
    done = cellar.link("0405", "SANC22")
    assert (done.item, done.lines, done.stock_change) == ("SANC22", 1, -1000)
    model.linked["0405"] = ("SANC22", 1)

    # ignore: not a drink; never listed again.
    done = cellar.ignore("0900")
    assert (done.item, done.lines, done.stock_change) == (None, 1, 0)

    items = cellar.items().set_index("item")
    assert items.loc[talbot_2017, ["name", "vintage", "volume", "producer", "origin"]].tolist() == [
        "Château Talbot",
        2017,
        75,
        "Château Talbot",
        "almost",
    ]
    assert items.loc[
        "manual-cahors-clos-triguedina-2019", ["name", "vintage", "origin"]
    ].tolist() == [
        "Cahors Clos Triguedina",
        2019,
        "no",
    ]
    assert len(items) == len(OPENING) + 3
    assert waiting_codes(cellar) == {"0777": 1000}
    assert store.stock() == model.stock()
    assert {code: (link.item, link.per) for code, link in cellar.links().items()} == {
        **model.linked,
        "0900": (None, 1),
    }

    # Repeating an answer does nothing and says so.
    again = cellar.yes("0401", "MARG15")
    assert (again.lines, again.stock_change) == (0, 0)
    assert again.message == "0401 is already linked to MARG15"
    assert cellar.ignore("0900").message == "0900 is already ignored"
    assert store.stock() == model.stock()

    # Conflicting answers are refused with one sentence, and leave nothing behind.
    conflicts = [
        (lambda: cellar.link("0401", "TALB16"), "0401 is linked to MARG15; unlink it first"),
        (lambda: cellar.almost("0401", 2016, "MARG15"), "0401 is linked to MARG15; unlink it"),
        (lambda: cellar.no("0405", "Autre Sancerre"), "0405 is linked to SANC22; unlink it"),
        (lambda: cellar.ignore("0401"), "0401 is linked to MARG15; unlink it first"),
        (lambda: cellar.link("0900", "MARG15"), "0900 is ignored; unlink it first"),
        (lambda: cellar.unlink("0777"), "0777 is not linked in store"),
        (lambda: cellar.link("0777", "NOPE"), "no item 'NOPE' in the cellar of store"),
        (lambda: cellar.yes("0777"), "no cellar item comes close to 0777"),
        (lambda: cellar.link("0777", "MARG15", per=0), "--per must be 1 or more"),
        (lambda: cellar.no("0777", "  "), "give the wine's name with --name"),
    ]
    for answer, sentence in conflicts:
        with pytest.raises(LinkError) as raised:
            answer()
        message = str(raised.value)
        assert message.startswith(sentence), message
        assert "\n" not in message
    assert len(cellar.items()) == len(OPENING) + 3  # the refused almost/no created nothing
    assert waiting_codes(cellar) == {"0777": 1000}
    assert store.stock() == model.stock()

    # The next night's journal applies the linked codes at once, a refund puts one back,
    # and the ignored code's lines are set aside, not held.
    model.drop(
        store,
        "journal-2026-11-28.csv",
        [
            line("0401", "CH MARGAUX 15", amount="480,00", day="28/11/2026", ticket="2001"),
            line("0401", "CH MARGAUX 15", "-1", "-480,00", day="28/11/2026", ticket="2002"),
            line("0403", "CH TALBOT", amount="68,00", day="28/11/2026"),
            line("0405", "SANCERRE VACHERON 22", "2", family="Vins blancs", day="28/11/2026"),
            line("0900", "BOUCHON", day="28/11/2026"),
            line("0404", "CAHORS CLOS TRIGUEDINA 19", day="29/11/2026", time="00:40:00"),
        ],
        "utf-8-sig",
    )
    second = store.run()
    assert second.state == "completed", second.message
    assert (second.lines_applied, second.lines_held, second.lines_rejected) == (5, 0, 0)
    assert [w.reference for w in second.waiting] == ["0777"]
    assert {r["status"] for r in store.held("0900")} == {"ignored"}
    assert waiting_codes(cellar) == {"0777": 1000}
    assert sorted(
        (m["kind"], m["quantity"], m["document_number"]) for m in store.movements("MARG15")
    ) == [
        ("adjustment", 6000, None),  # the catalogue's opening stock
        ("return", 1000, "2002"),
        ("sale", -1000, "1001"),  # the held line, applied under the answer's document
        ("sale", -1000, "2001"),
    ]
    assert store.stock() == model.stock()
    assert store.stock_text()["MARG15"] == "5"
    assert store.stock_text()["SANC22"] == "21"

    # Unlinking an ignored code holds its lines again, both nights'.
    assert cellar.unlink("0900").message == "0900 is no longer ignored"
    assert waiting_codes(cellar) == {"0777": 1000, "0900": 2000}
    assert store.stock() == model.stock()


def test_glasses_take_exact_bottles_and_unlink_reverses_exactly(store, cellar):
    model = Model()
    glass = {"family": "Vins au verre", "amount": "7,00"}
    model.drop(
        store,
        "journal-1.csv",
        [
            line("0501", "VRE CDR GUIGAL 20", "2", **glass),
            line("0502", "VRE SANCERRE VACHERON 22", "2", **glass),
            line("0405", "SANCERRE VACHERON 22", family="Vins blancs"),
        ],
        "cp1252",
    )
    assert store.run().lines_held == 3

    assert cellar.link("0501", "GUIG20", per=6).stock_change == -333  # 2/6 of a bottle
    assert cellar.link("0502", "SANC22", per=6).stock_change == -333
    assert cellar.yes("0405").item == "SANC22"  # two till codes, one item
    model.linked.update({"0501": ("GUIG20", 6), "0502": ("SANC22", 6), "0405": ("SANC22", 1)})
    assert [row["source_reference"] for row in cellar.link_rows("SANC22")] == ["0405", "0502"]
    assert store.stock() == model.stock()

    # One glass, then three, in two more runs: six glasses are exactly one bottle.
    model.drop(
        store, "journal-2.csv", [line("0501", "VRE CDR GUIGAL 20", "1", **glass)], "utf-8-sig"
    )
    second = store.run()
    assert (second.lines_applied, second.lines_held, second.waiting) == (1, 0, [])
    model.drop(store, "journal-3.csv", [line("0501", "VRE CDR GUIGAL 20", "3", **glass)], "utf-8")
    third = store.run()
    assert (third.lines_applied, third.lines_held, third.waiting) == (1, 0, [])
    assert store.stock()["GUIG20"] == OPENING["GUIG20"] - 1000
    assert store.stock_text()["GUIG20"] == "23"
    assert sorted(m["quantity"] for m in store.movements("GUIG20") if m["kind"] == "sale") == [
        -500,
        -333,
        -167,
    ]
    assert store.stock() == model.stock()

    # Unlink: the glasses go back exactly, the sales stay in the audit trail beside their
    # reversals, and the code's lines are held again.
    done = cellar.unlink("0501")
    assert (done.item, done.lines, done.stock_change) == ("GUIG20", 3, 1000)
    del model.linked["0501"]
    assert store.stock()["GUIG20"] == OPENING["GUIG20"]
    trail = [m for m in store.movements("GUIG20") if m["source_reference"] == "0501"]
    sales = {(m["document_id"], m["line"]): m["quantity"] for m in trail if m["kind"] == "sale"}
    reversals = {
        (m["origin_document_id"] or m["document_id"], m["origin_line"] or m["line"]): m["quantity"]
        for m in trail
        if m["kind"] == "adjustment"
    }
    assert len(sales) == 3 and sum(sales.values()) == -1000
    # each reversal names the line it undoes: the held line applied at link time (an origin)
    # or a journal line applied directly
    assert sorted(reversals.values()) == [167, 333, 500]
    assert {r["status"] for r in store.held("0501")} == {"held"}
    assert waiting_codes(cellar) == {"0501": 6000}
    assert store.stock() == model.stock()

    # Relink to another item: all six glasses apply there, as one bottle.
    done = cellar.link("0501", "SANC22", per=6)
    assert (done.lines, done.stock_change) == (3, -1000)
    model.linked["0501"] = ("SANC22", 6)
    assert waiting_codes(cellar) == {}
    assert store.stock() == model.stock()
    assert store.stock()["GUIG20"] == OPENING["GUIG20"]

    # Unlinking one of the item's codes leaves the others' sales where they are.
    done = cellar.unlink("0502")
    assert (done.item, done.stock_change) == ("SANC22", 333)
    del model.linked["0502"]
    assert store.stock()["SANC22"] == OPENING["SANC22"] - 1000 - 1000  # 0405's bottle, 0501's
    assert store.stock() == model.stock()
    assert waiting_codes(cellar) == {"0502": 2000}
