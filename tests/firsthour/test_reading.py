"""Issue 12 section 1: the commands that read (history, movements, rejects, stock) and the
error files, on ledgers written by real runs of InterStock and of the cellar.

Two shops keep two ledgers: Paris (InterStock, Europe/Paris) alone in one, Lyon (InterStock)
and a cellar (pointex) in the other; a fourth store file in ``configs/`` is invalid.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from alembic import command
from alembic.config import Config

from stockbridge.cli import main
from stockbridge.ledger.database import MIGRATIONS, create_ledger_engine
from stockbridge.ledger.ledger import Ledger
from tests.interstock_store import Store
from tests.pointex.store import CellarStore, line

ARTICLE = "8880000000109"
MOVEMENTS = (
    f"{ARTICLE}\t-1\n"  # a sale: 1 -> 0
    "X\t1\t2\n"  # extra fields, with tabs in its raw text
    "8880000000116;2\n"  # separated by ';'
    f"{ARTICLE}\t+3\n"  # a receipt: 0 -> 3
)


def interstock_store(root: Path, name: str, ledger: str, **overrides) -> Store:
    folder = root / name
    (folder / "import").mkdir(parents=True)
    catalogue = folder / "articles.tsv"
    catalogue.write_text(f"{ARTICLE}\t1\n8880000000116\t5\n")
    document = {
        "store": name,
        "integration": "interstock",
        "ledger": ledger,
        "catalogue": str(catalogue),
        "import": str(folder / "import"),
        "export": str(folder / "export" / "articles.txt"),
        "errors": str(folder / "errors"),
        "settle": {"min_age": "0s", "recheck": "0s"},
        **overrides,
    }
    path = root / "configs" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(document))
    return Store(path)


@pytest.fixture(scope="module")
def shops(tmp_path_factory, prefect_harness):
    root = tmp_path_factory.mktemp("shops")
    first, second = f"sqlite:///{root / 'paris.db'}", f"sqlite:///{root / 'lyon.db'}"
    paris = interstock_store(root, "paris", first, timezone="Europe/Paris")
    lyon = interstock_store(root, "lyon", second)
    cellar = CellarStore(root / "cellar", second, name="cave")
    (root / "configs" / "cave.yaml").write_text(cellar.path.read_text())
    (root / "configs" / "broken.yaml").write_text("store: Broken Id\nintegration: interstock\n")
    paris.drop("movements.txt", MOVEMENTS.encode())
    lyon.drop("movements.txt", f"{ARTICLE}\t-1\n".encode())
    cellar.drop("journal-1.csv", [line("000101", "MARGAUX 2015 BTL")])
    for store in (paris, lyon, cellar):
        assert store.run().state == "completed"
    return root, paris, lyon, cellar


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# -- 7. history reads every ledger and says which ------------------------------------------


def test_history_reads_every_store_files_ledger(shops, capsys, monkeypatch):
    root, *_ = shops
    monkeypatch.chdir(root)  # the default: configs/
    code, out, err = run(capsys, "history")
    assert code == 0
    read = [row for row in out.splitlines() if row.startswith("ledger read: ")]
    assert read == [
        f"ledger read: sqlite:///{root / 'lyon.db'} (store file(s) of configs/cave.yaml,"
        " configs/lyon.yaml)",
        f"ledger read: sqlite:///{root / 'paris.db'} (store file(s) of configs/paris.yaml)",
    ]
    runs = [row.split()[2] for row in out.splitlines() if row[:2] == "20"]
    assert sorted(runs) == ["cave", "lyon", "paris"]
    assert err.startswith("set aside: configs/broken.yaml: store: 'Broken Id' is not a valid")
    assert "stockbridge validate configs/broken.yaml says all" in err

    code, out, _ = run(capsys, "history", "--store", "paris")
    assert code == 0
    assert [row.split()[2] for row in out.splitlines() if row[:2] == "20"] == ["paris"]
    assert sum(row.startswith("ledger read: ") for row in out.splitlines()) == 1

    code, out, _ = run(capsys, "history", "--limit", "2")
    assert out.splitlines()[-1] == "(the newest 2 runs; --limit N shows more)"


# -- 7. rejects --------------------------------------------------------------------------


def test_rejects_lists_document_line_raw_reason_run_and_time(shops, capsys):
    root, paris, *_ = shops
    configs = str(root / "configs")
    code, out, _ = run(capsys, "rejects", "--store", "paris", "--config", configs)
    assert code == 0
    rows = out.splitlines()
    assert rows[0] == (
        "rejected lines of store paris, newest document first; times in Europe/Paris"
    )
    (document,) = [d for d in paris.documents() if d["document"] == "movements.txt"]
    run_id = document["run_id"]
    assert (
        rows[2:]
        == [
            f"{rows[2][:19]}  movements.txt, line 2: X\\t1\\t2",  # one line, the tab visible
            f"{'':21}extra fields: expected exactly reference<TAB>quantity (run {run_id})",
            f"{rows[2][:19]}  movements.txt, line 3: 8880000000116;2",
            f"{'':21}missing quantity: expected reference<TAB>quantity, and this line uses ';'"
            " instead: InterStock separates with a tab (was the file saved as CSV?)"
            f" (run {run_id})",
        ]
    )
    from datetime import UTC
    from zoneinfo import ZoneInfo

    local = document["applied_at"].replace(tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    assert rows[2][:19] == f"{local:%Y-%m-%d %H:%M:%S}"

    code, out, _ = run(capsys, "rejects", "--store", "paris", "--config", configs, "--since", "1d")
    assert len([row for row in out.splitlines() if "movements.txt, line" in row]) == 2
    code, out, _ = run(
        capsys, "rejects", "--store", "paris", "--config", configs, "--since", "2999-01-01"
    )
    assert out == "no rejected lines in store paris since 2999-01-01\n"
    code, out, _ = run(capsys, "rejects", "--store", "paris", "--config", configs, "--limit", "1")
    assert out.splitlines()[-1] == "(only the newest 1 lines are shown; --limit N shows more)"
    code, _, err = run(
        capsys, "rejects", "--store", "paris", "--config", configs, "--since", "last week"
    )
    assert code == 1
    assert err.startswith("stockbridge: --since last week: give a day (2026-11-27)")


# -- 7. movements ------------------------------------------------------------------------


def test_movements_show_order_running_balance_current_stock_and_time_zone(shops, capsys):
    root, paris, *_ = shops
    configs = str(root / "configs")
    code, out, _ = run(capsys, "movements", "--store", "paris", "--config", configs, ARTICLE)
    assert code == 0
    rows = out.splitlines()
    assert rows[0] == (
        f"movements of {ARTICLE} in store paris, newest first (the order they were applied to"
        " the ledger); times in Europe/Paris"
    )
    body = [row.split() for row in rows[2:-1]]
    # quantity, on hand after it: the receipt, the sale, the opening stock.
    assert [(cells[2], cells[3]) for cells in body] == [("3", "3"), ("-1", "0"), ("1", "1")]
    assert rows[-1] == "current stock: 3 on hand, 0 reserved, 3 available"
    assert paris.stock()[ARTICLE] == (3000, 0)

    (document,) = [d for d in paris.documents() if d["document"] == "movements.txt"]
    applied = document["applied_at"]
    from datetime import UTC
    from zoneinfo import ZoneInfo

    local = applied.replace(tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    assert body[0][:2] == [f"{local:%Y-%m-%d}", f"{local:%H:%M:%S}"]

    code, out, _ = run(
        capsys, "movements", "--store", "paris", "--config", configs, ARTICLE, "--limit", "2"
    )
    rows = out.splitlines()
    assert rows[-2] == "current stock: 3 on hand, 0 reserved, 3 available"
    assert rows[-1] == (
        "(only the newest 2 movements are shown; older ones exist: --limit N shows more)"
    )


# -- 8. error files ----------------------------------------------------------------------


def test_error_files_keep_their_columns_and_hint_at_semicolons(shops):
    _, paris, *_ = shops
    (error_file,) = paris.error_files()
    rows = error_file.read_text(encoding="utf-8").splitlines()[2:]
    assert [len(row.split("\t")) for row in rows] == [4, 4]
    assert rows[0].split("\t")[1:] == [
        "2",
        "extra fields: expected exactly reference<TAB>quantity",
        "X\\t1\\t2",
    ]
    assert rows[1].split("\t")[3] == "8880000000116;2"
    assert "this line uses ';' instead" in rows[1].split("\t")[2]


# -- 6. commands that read never create anything -----------------------------------------


@pytest.fixture
def empty_folder(tmp_path, monkeypatch):
    """An empty current folder with no STOCKBRIDGE_HOME: the default ledger would be
    ./.work/ledger.db. (PREFECT_HOME stays the session's, outside this folder.)"""
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("STOCKBRIDGE_HOME")
    return folder


def everything(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*"))


@pytest.mark.parametrize(
    "argv",
    [
        ("movements", "--store", "nope", "X"),
        ("history",),
        ("history", "--store", "nope"),
        ("stock", "--store", "nope"),
        ("rejects", "--store", "nope"),
    ],
)
def test_reading_without_a_ledger_creates_nothing(empty_folder, capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert everything(empty_folder) == []
    ledger = empty_folder / ".work" / "ledger.db"
    assert f"there is no ledger at {ledger}: nothing has been recorded there yet" in err
    assert len(err.strip().splitlines()) == 1


def test_a_ledger_url_that_names_nothing_is_one_sentence(empty_folder, tmp_path, capsys):
    missing = tmp_path / "missing" / "x.db"
    code, _, err = run(capsys, "history", "--ledger", f"sqlite:///{missing}")
    assert code == 1
    assert not missing.parent.exists()
    assert err == (
        f"stockbridge: there is no ledger at {missing}: nothing has been recorded there yet (a"
        " run of a store creates it; check --ledger, or the store file's ledger:)\n"
    )


def test_a_store_no_store_file_has_is_said(shops, empty_folder, capsys):
    root, *_ = shops
    code, _, err = run(
        capsys, "movements", "--store", "nope", "--config", str(root / "configs"), ARTICLE
    )
    assert code == 1
    assert err.startswith(f"stockbridge: no store file in {root / 'configs'} has store: nope")
    assert everything(empty_folder) == []


def test_an_empty_or_older_ledger_is_read_only_after_a_run(tmp_path, capsys):
    """Decided: a command that reads never migrates. A ledger without tables, or of an
    older schema, is a sentence saying that the next run brings it up to date."""
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    code, _, err = run(capsys, "history", "--ledger", f"sqlite:///{empty}")
    assert code == 1
    assert "has no stockbridge tables yet: nothing has run with it" in err
    assert empty.read_bytes() == b""

    older = f"sqlite:///{tmp_path / 'older.db'}"
    Ledger.open(older).close()
    engine = create_ledger_engine(older)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    code, _, err = run(capsys, "history", "--ledger", older)
    assert code == 1
    assert "was written by an older stockbridge (schema 0004" in err
    with engine.connect() as connection:
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    engine.dispose()
    assert version == "0004"  # read, not migrated
    Ledger.open(older).close()  # a run's open migrates it
    code, out, _ = run(capsys, "history", "--ledger", older)
    assert (code, out.splitlines()[-1]) == (0, "no runs recorded yet")
