"""A night's sales sent again in another file count once: re-sent under a new name, re-sent
with the lines sold since appended, or split in two and then sent whole.

Each test runs the real ``pointex`` flow on the ledger databases (SQLite, PostgreSQL,
MariaDB) and reads back the ledger: the stock of the linked wine, and where every line went.
"""

from __future__ import annotations

from collections import Counter

import pytest

from stockbridge.integrations.pointex.links import Cellar
from tests.pointex.store import OPENING, CellarStore, line

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.timeout(180)]

NIGHT = [
    line("0401", "CH MARGAUX 15", amount="480,00", ticket="1001", time="19:31:02"),
    line("0501", "VRE CDR GUIGAL 20", "2", "14,00", "Vins au verre", "1002", time="19:58:47"),
    # Two glasses rung up apart within the same second of one ticket: two sales, not one.
    line("0501", "VRE CDR GUIGAL 20", "1", "7,00", "Vins au verre", "1003", time="20:17:15"),
    line("0501", "VRE CDR GUIGAL 20", "1", "7,00", "Vins au verre", "1003", time="20:17:15"),
    line("0777", "VIN INCONNU", amount="30,00", ticket="1004", time="21:02:00"),
]
LATER = [
    line("0401", "CH MARGAUX 15", amount="480,00", ticket="1005", time="22:40:10"),
    line("0501", "VRE CDR GUIGAL 20", "1", "7,00", "Vins au verre", "1005", time="22:40:10"),
]


@pytest.fixture
def store(tmp_path, ledger_url) -> CellarStore:
    cellar = CellarStore(tmp_path, ledger_url)
    assert cellar.run().state == "completed"  # opens the cellar
    ledger = cellar.ledger()
    try:
        Cellar(ledger, cellar.name).link("0401", "MARG15")
        Cellar(ledger, cellar.name).link("0501", "GUIG20", per=6)
    finally:
        ledger.close()
    return cellar


def statuses(store: CellarStore) -> Counter[str]:
    return Counter(row["status"] for row in store.held())


def sold(store: CellarStore) -> tuple[int, int]:
    """Thousandths of a bottle gone from Margaux and from Guigal (sold by the glass, 6 a
    bottle)."""
    stock = store.stock()
    return OPENING["MARG15"] - stock["MARG15"], OPENING["GUIG20"] - stock["GUIG20"]


def test_the_same_night_under_another_name_counts_once(store):
    store.drop("journal-2026-11-27.csv", NIGHT)
    assert store.run().state == "completed"
    once = sold(store)
    assert once == (1_000, round(4_000 / 6))  # 4 glasses of 6 a bottle: 0.667

    store.drop("journal-2026-11-27-resent.csv", NIGHT)
    summary = store.run()
    [outcome] = summary.files
    assert outcome.status == "applied", summary.render()
    assert outcome.lines_applied == 0 and outcome.lines_held == 0
    assert "5 line(s) already recorded from an earlier journal" in outcome.note
    assert sold(store) == once
    assert statuses(store) == {"applied": 4, "held": 1, "repeated": 5}
    ledger = store.ledger()
    try:
        waiting = Cellar(ledger, store.name).waiting()
    finally:
        ledger.close()
    assert [(w.till_reference, w.quantity, w.lines) for w in waiting] == [("0777", 1_000, 1)]


def test_a_journal_sent_again_with_lines_appended_counts_only_the_new_lines(store):
    store.drop("journal-2026-11-27-2100.csv", NIGHT)
    assert store.run().state == "completed"
    store.drop("journal-2026-11-27-close.csv", NIGHT + LATER)
    summary = store.run()
    [outcome] = summary.files
    assert (outcome.lines_applied, outcome.lines_held) == (2, 0), summary.render()
    assert sold(store) == (2_000, round(5_000 / 6))
    assert statuses(store) == {"applied": 6, "held": 1, "repeated": 5}


def test_a_night_split_in_two_then_sent_whole_in_the_same_run_counts_once(store):
    store.drop("part-1.csv", NIGHT[:3])
    store.drop("part-2.csv", NIGHT[3:])
    store.drop("whole.csv", NIGHT)
    summary = store.run()
    assert summary.state == "completed", summary.render()
    assert sorted(f.status for f in summary.files) == ["applied"] * 3
    assert sold(store) == (1_000, round(4_000 / 6))
    assert statuses(store) == {"applied": 4, "held": 1, "repeated": 5}
    # The sales report counts each sale once too.
    ledger = store.ledger()
    try:
        cellar = Cellar(ledger, store.name)
        answered = cellar.link("0777", "TALB16")
    finally:
        ledger.close()
    assert answered.lines == 1  # the held line once, not its repeat
    assert sold(store) == (1_000, round(4_000 / 6))
    assert OPENING["TALB16"] - store.stock()["TALB16"] == 1_000
