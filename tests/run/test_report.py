"""`stockbridge report` (issue 12 §5): one self-contained page, drawn by headless Chromium.

Chromium (Debian's ``chromium``, installed by ``.ci/run``) is mandatory under CI; elsewhere
the drawing test is skipped with the reason when it is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import update

from stockbridge.cli import main
from stockbridge.ledger.tables import documents, runs
from tests.fixtures import IN_CI
from tests.interstock_store import new_store

pytestmark = pytest.mark.usefixtures("prefect_harness")


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    if found is None:
        if IN_CI:
            pytest.fail("chromium is missing; .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed here (apt-get install chromium); CI runs this")
    return found


class Marks(HTMLParser):
    """The SVG marks of the drawn page, with their attributes."""

    def __init__(self):
        super().__init__()
        self.chart = None
        self.marks: list[tuple[str, str, dict]] = []
        self.body: dict = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "body":
            self.body = attributes
        if tag == "svg":
            self.chart = attributes.get("data-chart")
        elif tag in ("path", "rect") and self.chart:
            self.marks.append((self.chart, tag, attributes))

    def handle_endtag(self, tag):
        if tag == "svg":
            self.chart = None


def _drawn(page: Path) -> Marks:
    done = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={page.parent / 'chromium-profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(page.parent)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    marks = Marks()
    marks.feed(done.stdout)
    return marks


def _shop_with_history(make_store):
    shop = new_store(make_store)
    shop.drop("orders-1.txt", b"8880000000116\t-1\n8880000000123\t-2\nbad line\n")
    shop.run()
    ledger = shop.ledger()
    two_days_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=2)
    with ledger.transaction() as connection:  # that run happened two days ago
        connection.execute(
            update(documents).where(documents.c.store == shop.name).values(applied_at=two_days_ago)
        )
        connection.execute(
            update(runs).where(runs.c.store == shop.name).values(started_at=two_days_ago)
        )
    ledger.close()
    shop.drop("orders-2.txt", b"8880000000116\t-1\n8880000000116\t-1\n")
    shop.run()
    shop.catalogue.unlink()  # today's second run fails
    assert shop.run().state == "failed"
    return shop


def test_the_report_is_one_page_whose_charts_are_drawn(make_store, tmp_path):
    shop = _shop_with_history(make_store)
    page = tmp_path / "report" / "shop.html"
    code = main(
        [
            "report",
            "--store",
            shop.name,
            "--days",
            "7",
            "--ledger",
            shop.config.ledger,
            "--out",
            str(page),
        ]
    )
    assert code == 0
    text = page.read_text()
    assert not re.search(r"""(src|href)\s*=|@import|url\(""", text)  # nothing to fetch

    marks = _drawn(page)
    assert marks.body.get("data-drawn") == "yes"  # the script ran to its end
    series = {m[2]["data-reference"]: m[2] for m in marks.marks if m[0] == "stock"}
    # the most moved articles by default (the opening from the article file moved all five);
    # the last point is today's stock
    last = {reference: float(s["data-last"]) for reference, s in series.items()}
    assert last == {
        "8880000000109": 1.0,
        "8880000000116": 2.0,  # 5 - 1 two days ago - 2 today
        "8880000000123": 5.0,  # 7 - 2
        "8880000000130": 10.0,
        "8880000000154": 5.0,
    }
    assert {s["data-points"] for s in series.values()} == {"7"}
    assert all(s["d"].startswith("M") and s["d"].count("L") == 6 for s in series.values())
    # 8880000000116 ended the days at 0, 0, 0, 0, 4, 4, 2: the line says so (SVG's y grows down)
    heights = [float(p.split()[1]) for p in re.split("[ML]", series["8880000000116"]["d"])[1:]]
    assert heights[0] == heights[3] and heights[4] == heights[5]
    assert heights[4] < heights[6] < heights[0]

    def bars(chart: str, name: str) -> list[float]:
        found = [m[2] for m in marks.marks if m[0] == chart and m[2].get("data-series") == name]
        assert [b["data-day"] for b in found] == sorted(b["data-day"] for b in found)
        return [float(b["data-value"]) for b in found]

    assert bars("lines", "applied")[-3:] == [5 + 2, 0, 2]  # the opening's 5 lines, then files
    assert bars("lines", "rejected")[-3:] == [1, 0, 0]
    assert bars("runs", "runs")[-3:] == [1, 0, 2]
    assert bars("runs", "failed")[-3:] == [0, 0, 1]
    applied = [m[2] for m in marks.marks if m[2].get("data-series") == "applied"]
    assert float(applied[-1]["height"]) > 0  # drawn with a size, not only listed


def test_chosen_articles_are_charted(make_store, tmp_path):
    shop = new_store(make_store)
    shop.drop("orders-1.txt", b"8880000000116\t-1\n8880000000123\t-2\n8880000000109\t-1\n")
    shop.run()
    page = tmp_path / "chosen.html"
    args = ["report", "--store", shop.name, "--ledger", shop.config.ledger, "--out", str(page)]
    assert main([*args, "--reference", "8880000000109", "--reference", "8880000000154"]) == 0
    marks = _drawn(page)
    drawn = {
        m[2]["data-reference"]: float(m[2]["data-last"]) for m in marks.marks if m[0] == "stock"
    }
    assert drawn == {"8880000000109": 0.0, "8880000000154": 5.0}
