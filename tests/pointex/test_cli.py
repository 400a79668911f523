"""The cellar's commands as the owner types them: a real ``stockbridge`` subprocess.

After a run of the flow, ``links pending|yes|link|almost|show|unlink``, ``stock`` and
``sales``, reading the ledger through the store file (``--config``); exit codes and plain
sentences, never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pointex.store import CellarStore, line

STOCKBRIDGE = str(Path(sys.executable).with_name("stockbridge"))
ANSWERS = {"yes", "almost", "no"}


@pytest.fixture
def cli(prefect_harness, tmp_path):
    from prefect.settings import PREFECT_API_URL

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "STOCKBRIDGE_")) and not k.startswith("PYTEST")
    }
    env.update(
        PREFECT_API_URL=PREFECT_API_URL.value(),
        PREFECT_HOME=os.environ["PREFECT_HOME"],
        STOCKBRIDGE_HOME=os.environ["STOCKBRIDGE_HOME"],
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [STOCKBRIDGE, *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,  # no configs/ folder here: the store file is named
            timeout=120,
        )

    return run


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done
    assert "Traceback" not in done.stdout + done.stderr
    return done.stdout


def refused(done: subprocess.CompletedProcess[str]) -> str:
    """Exit 1 with one sentence on stderr, nothing on stdout."""
    assert done.returncode == 1, done
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stdout == ""
    [sentence] = done.stderr.splitlines()
    assert sentence.startswith("stockbridge: ")
    return sentence.removeprefix("stockbridge: ")


def test_owner_session(cli, tmp_path, sqlite_url):
    store = CellarStore(tmp_path, sqlite_url)
    glass = {"family": "Vins au verre"}
    store.drop(
        "journal-2026-11-27.csv",
        [
            line("0401", "CH MARGAUX 15", amount="480,00", time="20:10:00"),
            line("0501", "VRE CDR GUIGAL 20", "2", "14,00", time="21:00:00", **glass),
            line("0402", "CH TALBOT 17", amount="68,00", time="22:30:00"),
            line("0501", "VRE CDR GUIGAL 20", "1", "7,00", day="28/11/2026", time="00:40", **glass),
            line("0311", "PLANCHE MIXTE", amount="18,50", family="Cuisine"),
        ],
        "utf-8-sig",
    )
    config = ("--store", store.name, "--config", str(store.path))

    summary = store.run()  # in this process: the commands below are under test
    assert summary.headline() == (
        f"{store.name}: 1 file(s) applied, 0 line(s) applied, 0 rejected, 4 held,"
        " 3 drink(s) to link"
    )

    pending = json.loads(ok(cli("links", "pending", *config, "--json")))
    by_code = {entry["till_reference"]: entry for entry in pending}
    assert set(by_code) == {"0401", "0402", "0501"}
    assert [by_code[c]["waiting"] for c in ("0401", "0402", "0501")] == ["1", "1", "3"]
    assert (by_code["0401"]["label"], by_code["0501"]["revenue"]) == ("CH MARGAUX 15", "21")
    for entry in pending:
        assert entry["suggestions"], entry
        for suggestion in entry["suggestions"]:
            assert set(suggestion) == {"item", "name", "vintage", "score", "answer"}
            assert suggestion["answer"] in ANSWERS
    best = by_code["0401"]["suggestions"][0]
    assert (best["item"], best["name"], best["vintage"], best["answer"]) == (
        "MARG15",
        "Château Margaux",
        2015,
        "yes",
    )
    assert by_code["0402"]["suggestions"][0]["answer"] == "almost"

    out = ok(cli("links", "yes", *config, "0401"))
    assert out == "0401 linked to MARG15: 1 held sale line(s) applied, stock -1\n"
    out = ok(cli("links", "link", *config, "0501", "GUIG20", "--per", "6"))
    assert out == "0501 linked to GUIG20: 2 held sale line(s) applied, stock -0.5\n"
    # ITEM after an option, as people type it: the wine is Talbot, the vintage 2017
    out = ok(cli("links", "almost", *config, "0402", "--vintage", "2017", "TALB16"))
    assert out.startswith("0402 linked to TALB17 (created): 1 held sale line(s) applied")

    stock = {row["item"]: row for row in json.loads(ok(cli("stock", *config, "--json")))}
    assert stock["MARG15"] == {
        "item": "MARG15",
        "name": "Château Margaux",
        "vintage": 2015,
        "quantity": "5",
    }
    assert stock["GUIG20"]["quantity"] == "23.5"
    assert (stock["TALB17"]["vintage"], stock["TALB17"]["quantity"]) == (2017, "-1")
    assert stock["TALB16"]["quantity"] == "12"

    assert ok(cli("links", "show", *config)).splitlines() == [
        "GUIG20 Côtes du Rhône 2020: till code 0501, 6 per bottle (link)",
        "MARG15 Château Margaux 2015: till code 0401 (yes)",
        "TALB17 Château Talbot 2017: till code 0402 (almost)",
    ]

    # The till's own figures: quantities in its units, revenue as it rang it up.
    sales = json.loads(ok(cli("sales", *config, "--json", "--by", "reference")))
    assert [(r["reference"], r["quantity"], r["revenue"], r["currency"]) for r in sales] == [
        ("0401", "1", "480", "EUR"),
        ("0402", "1", "68", "EUR"),
        ("0501", "3", "21", "EUR"),
    ]
    by_day = json.loads(ok(cli("sales", *config, "--json", "--by", "day")))
    assert [(r["day"], r["quantity"], r["revenue"]) for r in by_day] == [
        ("2026-11-27", "4", "562"),
        ("2026-11-28", "1", "7"),  # 00:40 in Paris is the next day
    ]
    one_day = json.loads(
        ok(cli("sales", *config, "--json", "--from", "2026-11-28", "--to", "2026-11-28"))
    )
    assert [(r["item"], r["quantity"]) for r in one_day] == [("GUIG20", "1")]

    # A conflicting answer: exit 1, one sentence. Repeating one: a no-op that says so.
    sentence = refused(cli("links", "link", *config, "0401", "TALB16"))
    assert sentence == (
        f"0401 is linked to MARG15; unlink it first (stockbridge links unlink --store"
        f" {store.name} 0401)"
    )
    assert ok(cli("links", "yes", *config, "0401", "MARG15")) == (
        "0401 is already linked to MARG15\n"
    )

    out = ok(cli("links", "unlink", *config, "0501"))
    assert out == "0501 unlinked from GUIG20: 2 sale line(s) reversed (stock 0.5), held again\n"
    stock = {
        row["item"]: row["quantity"] for row in json.loads(ok(cli("stock", *config, "--json")))
    }
    assert (stock["GUIG20"], stock["MARG15"]) == ("24", "5")
