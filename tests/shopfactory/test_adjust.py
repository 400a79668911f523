"""``stockbridge adjust``: an audited manual movement, for any integration that keeps stock."""

from __future__ import annotations

import getpass

from stockbridge.cli import main
from tests.shopfactory.shop import Ledger


def adjust(capfd, *argv: str) -> tuple[int, str]:
    capfd.readouterr()
    code = main(["adjust", *argv])
    out, err = capfd.readouterr()
    return code, out + err


def test_adjust_an_interstock_article_audited_and_shown_by_movements(
    make_store, sqlite_url, run, capfd
):
    config = make_store()
    from stockbridge.cli import run_store

    assert run_store(config, "interstock").state == "completed"  # opens 8880000000116 at 5
    store = config.stem
    code, out = adjust(
        capfd,
        "--store",
        store,
        "8880000000116",
        "+12",
        "--reason",
        "delivery",
        "--config",
        str(config),
    )
    assert code == 0, out
    assert f"8880000000116: +12 (delivery) by {getpass.getuser()}; on hand now 17" in out
    ledger = Ledger(sqlite_url)
    try:
        assert ledger.available(store)["8880000000116"] == 17_000
        [document] = ledger.rows(
            "SELECT document, source, note FROM documents WHERE source = 'adjust'"
        )
        assert document.document == "adjust: 8880000000116 +12 (delivery)"
        assert document.note.startswith(f"reason 'delivery' by {getpass.getuser()} at ")
        [movement] = ledger.rows(
            "SELECT quantity, kind FROM movements WHERE document_id IN"
            " (SELECT id FROM documents WHERE source = 'adjust')"
        )
        assert (movement.quantity, movement.kind) == (12_000, "receipt")
    finally:
        ledger.close()

    capfd.readouterr()
    assert main(["movements", "--store", store, "8880000000116", "--config", str(config)]) == 0
    listed = capfd.readouterr().out
    assert "receipt" in listed and "adjust: 8880000000116 +12 (delivery)" in listed

    code, out = adjust(
        capfd,
        "--store",
        store,
        "8880000000116",
        "-2.5",
        "--reason",
        "breakage",
        "--config",
        str(config),
    )
    assert code == 0 and "on hand now 14.5" in out


def test_adjust_refuses_what_it_cannot_do_in_one_sentence(make_store, run, capfd):
    config = make_store()
    from stockbridge.cli import run_store

    assert run_store(config, "interstock").state == "completed"
    store = config.stem
    cases = [
        (
            ("UNKNOWN", "+1", "--reason", "count"),
            "has no article UNKNOWN; check the reference, or add --new",
        ),
        (("8880000000116", "douze", "--reason", "count"), "'douze' is not a quantity"),
        (("8880000000116", "0", "--reason", "count"), "a quantity of 0 changes nothing"),
        (("8880000000116", "+1", "--reason", " "), "give a --reason"),
    ]
    for argv, words in cases:
        code, out = adjust(capfd, "--store", store, *argv, "--config", str(config))
        assert code == 1 and words in out and "Traceback" not in out, out
    code, out = adjust(
        capfd, "--store", "no-such-store", "A", "+1", "--reason", "count", "--config", str(config)
    )
    assert code == 1 and "has store: no-such-store" in out and "Traceback" not in out, out
    code, out = adjust(
        capfd,
        "--store",
        store,
        "NEW-1",
        "+3",
        "--reason",
        "count",
        "--new",
        "--config",
        str(config),
    )
    assert code == 0 and "on hand now 3" in out
