"""Trigger-based change capture on real SQLite, MariaDB and PostgreSQL tills: inserts,
updates, deletions and key changes reach HQ exactly once, a late-committing change (a real
open till transaction) is not lost, installing twice is harmless, doctor names missing
triggers, the CLI through a subprocess. The checks read HQ and the till with plain SQL."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from stockbridge.config.loader import InvalidStoreFile, load_store
from stockbridge.integrations.chain.capture import captured, install, remove
from stockbridge.integrations.chain.checks import checks
from stockbridge.integrations.chain.database import create_till_schema
from stockbridge.integrations.chain.profile import load_profile
from tests.chain.chain_store import make_chain, run

CLI = Path(sys.executable).with_name("stockbridge")

PROFILE_YAML = """\
name: capture-test
store_column: store
entities:
  - name: tickets
    direction: up
    key: [id]
    change: {by: id}
    columns: {id: integer, store: text(32), number: text(32)}
  - name: shelf_labels
    direction: up
    key: [code]
    change: {by: capture}
    columns: {code: text(16), store: text(32), label: text(80), price: decimal}
  - name: ticket_notes
    direction: up
    key: [ticket_id, line]
    change: {by: capture}
    parent: {entity: tickets, column: ticket_id}
    columns: {ticket_id: integer, line: integer, note: text(80)}
  - name: promotions
    direction: down
    key: [code]
    change: {by: capture}
    deleted: {flag: deleted}
    columns: {code: text(16), label: text(80), deleted: boolean}
"""

KINDS = [
    pytest.param("sqlite", "sqlite", id="sqlite-till"),
    pytest.param("postgresql", "sqlite", id="postgresql-till", marks=pytest.mark.postgres),
    pytest.param("mariadb", "sqlite", id="mariadb-till", marks=pytest.mark.mariadb),
    pytest.param("sqlite", "postgresql", id="postgresql-hq", marks=pytest.mark.postgres),
    pytest.param("sqlite", "mariadb", id="mariadb-hq", marks=pytest.mark.mariadb),
]


def completed(summary) -> str:
    text = summary.render()
    assert summary.state == "completed", text
    return text


def capture_chain(tmp_path: Path, databases, till_kind="sqlite", hq_kind="sqlite", **lyon):
    """A chain of HQ and lyon on the capture profile (``lyon``: more of lyon's store file),
    its tables and triggers installed in both tills (HQ's pushes the down entity), HQ run
    once."""
    profile_file = tmp_path / "capture-test.yaml"
    profile_file.write_text(PROFILE_YAML)
    profile = load_profile(profile_file.absolute())
    chain = make_chain(
        tmp_path,
        databases,
        hq_kind=hq_kind,
        till_kind=till_kind,
        stores=("lyon",),
        hq={"profile": str(profile_file)},
        lyon={"profile": str(profile_file), **lyon},
    )
    for store, till in chain.tills.items():
        create_till_schema(till.engine, profile)
        config = load_store(chain.configs[store])
        install(till.engine, captured(config, profile))
    completed(run(chain.configs["hq"]))
    return chain


def sql(chain, store: str, *statements: str, **params) -> None:
    with chain.tills[store].engine.begin() as connection:
        for statement in statements:
            connection.execute(sa.text(statement), params)


def labels(chain) -> dict[str, tuple]:
    return {
        r["code"]: (r["label"], float(r["price"]), bool(r["sb_deleted"]), r["sb_seq"])
        for r in chain.hq_rows("chain_shelf_labels", "sb_store = 'lyon'")
    }


def ack(chain, entity: str) -> tuple[int, list[int]]:
    [row] = chain.hq_rows("stockbridge_acks", f"store = 'lyon' AND entity = '{entity}'")
    return int(row["high"]), json.loads(row["gaps"])


def till_rows(chain, store: str, table: str, order: str = "1") -> list[dict]:
    with chain.tills[store].engine.connect() as connection:
        found = connection.execute(sa.text(f"SELECT * FROM {table} ORDER BY {order}"))
        return [dict(r._mapping) for r in found]


def change_rows(chain, store: str = "lyon") -> list[dict]:
    return till_rows(chain, store, "stockbridge_changes", "id")


@pytest.mark.parametrize(("till_kind", "hq_kind"), KINDS)
def test_inserts_updates_deletes_and_key_changes_reach_hq_exactly_once(
    tmp_path, databases, till_kind, hq_kind
):
    chain = capture_chain(tmp_path, databases, till_kind, hq_kind)
    sql(
        chain,
        "lyon",
        "INSERT INTO shelf_labels (code, store, label, price) VALUES"
        " ('L1', 'lyon', 'milk', 1.10), ('L2', 'lyon', 'bread', 2.20), ('L3', 'lyon', 'jam', 3)",
    )
    sql(chain, "lyon", "UPDATE shelf_labels SET price = 1.25 WHERE code = 'L1'")
    sql(chain, "lyon", "UPDATE shelf_labels SET label = 'milk 1l' WHERE code = 'L1'")
    assert [c["op"] for c in change_rows(chain)] == ["I", "I", "I", "U", "U"]
    text = completed(run(chain.configs["lyon"]))
    assert "shelf_labels: 3 sent" in text
    first = labels(chain)
    assert {k: v[:3] for k, v in first.items()} == {
        "L1": ("milk 1l", 1.25, False),
        "L2": ("bread", 2.2, False),
        "L3": ("jam", 3.0, False),
    }
    assert sorted(v[3] for v in first.values()) == [1, 2, 3]  # one sequence number each

    text = completed(run(chain.configs["lyon"]))  # nothing new: nothing sent, nothing renumbered
    assert "shelf_labels" not in text
    assert labels(chain) == first

    sql(chain, "lyon", "DELETE FROM shelf_labels WHERE code = 'L2'")
    sql(chain, "lyon", "UPDATE shelf_labels SET code = 'L9' WHERE code = 'L3'")  # a key change
    sql(chain, "lyon", "UPDATE shelf_labels SET price = price WHERE code = 'L1'")  # no change
    assert [c["op"] for c in change_rows(chain)][-4:] == ["D", "D", "U", "U"]
    text = completed(run(chain.configs["lyon"]))
    assert "shelf_labels: 3 sent" in text  # L2 and L3 tombstoned, L9 new; L1 unchanged
    after = labels(chain)
    assert {k: v[:3] for k, v in after.items()} == {
        "L1": ("milk 1l", 1.25, False),
        "L2": ("bread", 2.2, True),
        "L3": ("jam", 3.0, True),
        "L9": ("jam", 3.0, False),
    }
    assert after["L1"][3] == first["L1"][3]
    assert completed(run(chain.configs["lyon"])).count("shelf_labels") == 0
    assert labels(chain) == after

    sql(chain, "lyon", "INSERT INTO shelf_labels VALUES ('L2', 'lyon', 'bread again', 2.5)")
    completed(run(chain.configs["lyon"]))
    assert labels(chain)["L2"][:3] == ("bread again", 2.5, False)  # back from its tombstone

    high, gaps = ack(chain, "shelf_labels")
    assert gaps == []
    left = change_rows(chain)
    assert [c["id"] for c in left] == [high]  # pruned, the highest acknowledged row kept


@pytest.mark.parametrize(("till_kind", "hq_kind"), KINDS[:3])
def test_installing_twice_is_harmless_and_rows_there_before_are_sent(
    tmp_path, databases, till_kind, hq_kind
):
    chain = capture_chain(tmp_path, databases, till_kind, hq_kind)
    engine = chain.tills["lyon"].engine
    config = load_store(chain.configs["lyon"])
    entities = captured(config, config.load_profile())
    assert [e.name for e in entities] == ["shelf_labels", "ticket_notes"]
    sql(chain, "lyon", "INSERT INTO shelf_labels VALUES ('L1', 'lyon', 'milk', 1)")
    again = install(engine, entities)
    assert [(d.entity, d.replaced) for d in again] == [
        ("shelf_labels", True),
        ("ticket_notes", True),
    ]
    assert len(change_rows(chain)) == 1  # nothing recorded twice
    sql(chain, "lyon", "UPDATE shelf_labels SET label = 'milk 2' WHERE code = 'L1'")
    assert [c["op"] for c in change_rows(chain)] == ["I", "U"]  # one trigger each, not two
    completed(run(chain.configs["lyon"]))
    assert {k: v[0] for k, v in labels(chain).items()} == {"L1": "milk 2"}

    sql(chain, "lyon", "INSERT INTO tickets (id, store, number) VALUES (1, 'lyon', 'T1')")
    remove(engine, entities)
    sql(
        chain,
        "lyon",
        "INSERT INTO ticket_notes (ticket_id, line, note) VALUES (1, 1, 'a'), (1, 2, 'b')",
    )
    assert len(change_rows(chain)) <= 2  # not recorded: no triggers
    done = {d.entity: d for d in install(engine, entities)}
    assert not done["ticket_notes"].replaced and done["ticket_notes"].seeded == 2
    text = completed(run(chain.configs["lyon"]))
    assert "ticket_notes: 2 sent" in text
    notes = chain.hq_rows("chain_ticket_notes")
    assert sorted((r["ticket_id"], r["line"], r["note"]) for r in notes) == [
        (1, 1, "a"),
        (1, 2, "b"),
    ]
    # MariaDB's INSERT ... SELECT (the seed) skips auto-increment values: the next change
    # leaves gaps no transaction holds; they pass at the next run instead of waiting forever
    sql(chain, "lyon", "INSERT INTO ticket_notes (ticket_id, line, note) VALUES (1, 3, 'c')")
    text = completed(run(chain.configs["lyon"]))
    assert ("waited for" in text) == (till_kind == "mariadb"), text
    for _ in range(5):  # another session's transaction on the server may be open a moment
        text = completed(run(chain.configs["lyon"]))
        if "waited for" not in text:
            break
        time.sleep(1)
    assert "waited for" not in text
    assert ack(chain, "ticket_notes")[1] == [] and ack(chain, "shelf_labels")[1] == []
    assert len(chain.hq_rows("chain_ticket_notes")) == 3


def test_a_line_waits_for_its_ticket_and_a_down_entity_reaches_the_stores(tmp_path, databases):
    chain = capture_chain(tmp_path, databases)
    sql(chain, "lyon", "INSERT INTO ticket_notes VALUES (7, 1, 'before its ticket')")
    text = completed(run(chain.configs["lyon"]))
    assert "1 id(s) waited for" in text
    assert chain.hq_rows("chain_ticket_notes") == []
    sql(chain, "lyon", "INSERT INTO tickets (id, store, number) VALUES (7, 'lyon', 'T7')")
    completed(run(chain.configs["lyon"]))
    assert [r["note"] for r in chain.hq_rows("chain_ticket_notes")] == ["before its ticket"]
    assert ack(chain, "ticket_notes")[1] == []

    sql(
        chain,
        "hq",
        "INSERT INTO promotions (code, label, deleted) VALUES ('P1', 'spring', false),"
        " ('P2', 'summer', false)",
    )
    completed(run(chain.configs["hq"]))
    completed(run(chain.configs["lyon"]))
    assert sorted(r["code"] for r in till_rows(chain, "lyon", "promotions")) == ["P1", "P2"]
    sql(chain, "hq", "DELETE FROM promotions WHERE code = 'P2'")
    sql(chain, "hq", "UPDATE promotions SET label = 'spring sale' WHERE code = 'P1'")
    completed(run(chain.configs["hq"]))
    completed(run(chain.configs["lyon"]))
    assert [(r["code"], r["label"]) for r in till_rows(chain, "lyon", "promotions")] == [
        ("P1", "spring sale")
    ]


@pytest.mark.parametrize(
    "till_kind",
    [
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def test_a_change_committed_late_by_an_open_till_transaction_is_not_lost(
    tmp_path, databases, till_kind
):
    """A till transaction updates L1 (its trigger takes change id N) and stays open; another
    updates L2 (id N+1) and commits; the run sends L2. Then the first commits: L1 arrives."""
    chain = capture_chain(tmp_path, databases, till_kind)
    sql(
        chain,
        "lyon",
        "INSERT INTO shelf_labels VALUES ('L1', 'lyon', 'milk', 1), ('L2', 'lyon', 'jam', 2)",
    )
    completed(run(chain.configs["lyon"]))
    slow = chain.tills["lyon"].engine.connect()
    slow_tx = slow.begin()
    try:
        slow.execute(sa.text("UPDATE shelf_labels SET label = 'late milk' WHERE code = 'L1'"))
        sql(chain, "lyon", "UPDATE shelf_labels SET label = 'new jam' WHERE code = 'L2'")
        text = completed(run(chain.configs["lyon"]))
        assert "shelf_labels: 1 sent, 1 id(s) waited for" in text
        assert {k: v[0] for k, v in labels(chain).items()} == {"L1": "milk", "L2": "new jam"}
        high, gaps = ack(chain, "shelf_labels")
        assert gaps == [high - 1]
        # pruned below the gap while the till transaction is open, without waiting on it
        assert [c["id"] for c in change_rows(chain)] == [high]
        slow_tx.commit()
    finally:
        slow.close()
    text = completed(run(chain.configs["lyon"]))
    assert "shelf_labels: 1 sent" in text
    assert {k: v[0] for k, v in labels(chain).items()} == {"L1": "late milk", "L2": "new jam"}
    assert ack(chain, "shelf_labels") == (high, [])
    assert [c["id"] for c in change_rows(chain)] == [high]
    assert "shelf_labels" not in completed(run(chain.configs["lyon"]))


@pytest.mark.parametrize(
    "till_kind",
    [
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def test_a_rolled_back_change_id_waits_while_an_older_transaction_is_open_then_passes(
    tmp_path, databases, till_kind
):
    """A change id whose transaction rolled back is a gap like a late commit; it is passed
    only once no till transaction that began before the read finding it missing is open."""
    chain = capture_chain(tmp_path, databases, till_kind)
    engine = chain.tills["lyon"].engine
    older = engine.connect()
    older_tx = older.begin()
    try:
        older.execute(sa.text("INSERT INTO tickets (id, store, number) VALUES (1, 'lyon', 'T')"))
        with engine.connect() as rolled:
            rolled.execute(sa.text("INSERT INTO shelf_labels VALUES ('L1', 'lyon', 'no', 1)"))
            rolled.rollback()
        sql(chain, "lyon", "INSERT INTO shelf_labels VALUES ('L2', 'lyon', 'yes', 2)")
        for _ in range(2):  # the older transaction may still hold it: it waits
            text = completed(run(chain.configs["lyon"]))
            assert (
                "shelf_labels: 1 id(s) waited for" in text or "shelf_labels: 1 sent, 1 id" in text
            )
            assert len(ack(chain, "shelf_labels")[1]) == 1
        older_tx.commit()
    finally:
        older.close()
    for _ in range(5):  # another session's transaction on the server may be open a moment
        text = completed(run(chain.configs["lyon"]))
        if not ack(chain, "shelf_labels")[1]:
            break
        time.sleep(1)
    assert ack(chain, "shelf_labels")[1] == []
    assert "waited for" not in completed(run(chain.configs["lyon"]))
    assert sorted(labels(chain)) == ["L2"]
    assert [r["id"] for r in chain.hq_rows("chain_tickets")] == [1]


def test_doctor_names_missing_triggers_and_the_cli_installs_them(tmp_path, databases):
    chain = capture_chain(tmp_path, databases)
    path = str(chain.configs["lyon"])
    removed = subprocess.run(
        [str(CLI), "chain", "capture", "remove", "--config", path],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert removed.returncode == 0, removed.stderr
    assert "lyon: shelf_labels: triggers on shelf_labels removed" in removed.stdout
    store = load_store(chain.configs["lyon"])
    failing = {c.name: c.detail for c in checks(store, path) if not c.ok}
    assert list(failing) == ["capture triggers"]
    detail = failing["capture triggers"]
    assert "shelf_labels (table shelf_labels), ticket_notes (table ticket_notes)" in detail
    assert f"`stockbridge chain capture install --config {path}`" in detail
    summary = run(chain.configs["lyon"])
    assert summary.state == "failed" and summary.message.startswith("capture triggers:")
    doctor = subprocess.run([str(CLI), "doctor", path], capture_output=True, text=True, timeout=120)
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    assert "FAIL  capture triggers: entities found by capture have no triggers" in doctor.stdout
    assert "run `stockbridge chain capture install --config" in doctor.stdout

    for word in ("installed", "replaced"):  # twice: the second replaces, harmless
        done = subprocess.run(
            [str(CLI), "chain", "capture", "install", "--config", path],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert f"lyon: shelf_labels: triggers on shelf_labels {word}" in done.stdout
    assert [c.detail for c in checks(store, path) if c.name == "capture triggers"] == [
        "installed for shelf_labels, ticket_notes"
    ]
    completed(run(chain.configs["lyon"]))


def test_a_dropped_change_table_stops_the_entity_and_install_reconciles_with_hq(
    tmp_path, databases
):
    """Changes made while nothing recorded them (triggers removed, the change table dropped
    and made again with ids below HQ's point): the run stops in one sentence instead of
    taking new ids for old ones; the CLI's install, reading HQ, moves the ids above HQ's
    point and records every row and every deletion HQ has not heard of."""
    chain = capture_chain(tmp_path, databases)
    sql(chain, "lyon", "INSERT INTO shelf_labels VALUES ('L1', 'lyon', 'milk', 1)")
    sql(chain, "lyon", "INSERT INTO shelf_labels VALUES ('L2', 'lyon', 'jam', 2)")
    completed(run(chain.configs["lyon"]))
    high = ack(chain, "shelf_labels")[0]
    store = load_store(chain.configs["lyon"])
    entities = captured(store, store.load_profile())
    engine = chain.tills["lyon"].engine
    remove(engine, entities)
    sql(chain, "lyon", "DELETE FROM shelf_labels WHERE code = 'L2'")
    sql(chain, "lyon", "UPDATE shelf_labels SET label = 'oat milk' WHERE code = 'L1'")
    sql(chain, "lyon", "DROP TABLE stockbridge_changes")
    [failing] = [c for c in checks(store, "lyon.yaml") if not c.ok]
    assert "no triggers in the till: shelf_labels" in failing.detail
    install(engine, entities)  # without HQ: the new table's ids start at 1 again
    assert max(c["id"] for c in change_rows(chain)) < high
    summary = run(chain.configs["lyon"])
    assert summary.state == "failed"
    assert "the table was dropped or restored" in summary.message, summary.message

    done = subprocess.run(
        [str(CLI), "chain", "capture", "install", "--config", str(chain.configs["lyon"])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "1 row(s) HQ holds but the till no longer has as deletions" in done.stdout
    assert f"change ids now start above HQ's acknowledged {high}" in done.stdout
    completed(run(chain.configs["lyon"]))
    assert {k: v[:3] for k, v in labels(chain).items()} == {
        "L1": ("oat milk", 1.0, False),
        "L2": ("jam", 2.0, True),
    }


@pytest.mark.parametrize(
    "hq_kind",
    [
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def test_a_row_hq_refuses_stops_its_entity_until_skipped(tmp_path, databases, hq_kind):
    chain = capture_chain(tmp_path, databases, hq_kind=hq_kind)
    sql(chain, "lyon", "INSERT INTO shelf_labels VALUES ('L1', 'lyon', 'milk', 1)")
    sql(chain, "lyon", "INSERT INTO shelf_labels VALUES ('L5', 'lyon', :label, 1)", label="x" * 200)
    sql(chain, "lyon", "INSERT INTO shelf_labels VALUES ('L6', 'lyon', 'jam', 1)")
    sql(chain, "lyon", "INSERT INTO tickets (id, store, number) VALUES (1, 'lyon', 'T1')")
    sql(chain, "lyon", "INSERT INTO ticket_notes VALUES (1, 1, 'a note')")
    summary = run(chain.configs["lyon"])
    assert summary.state == "failed"
    assert "HQ refused shelf_labels row L5" in summary.message
    assert f"stockbridge chain skip {chain.configs['lyon']} shelf_labels L5" in summary.message
    assert labels(chain) == {}  # nothing of the refused batch
    assert [r["note"] for r in chain.hq_rows("chain_ticket_notes")] == ["a note"]  # went on
    done = subprocess.run(
        [str(CLI), "chain", "skip", str(chain.configs["lyon"]), "shelf_labels", "L5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    text = completed(run(chain.configs["lyon"]))
    assert "shelf_labels: 2 sent, 1 skipped by `chain skip`" in text
    assert sorted(labels(chain)) == ["L1", "L6"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("{by: capture, column: label}", "takes no column"),
        ("{by: capture}\n    direction_is: x", "direction_is"),
    ],
)
def test_a_capture_profile_error_names_the_entity_and_key(tmp_path, change, message):
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "name: p\nentities:\n  - name: labels\n    direction: up\n    key: [code]\n"
        f"    change: {change}\n    columns: {{code: text(8), label: text(8)}}\n"
    )
    store = tmp_path / "lyon.yaml"
    store.write_text(f"store: lyon\nintegration: chain\ntill: sqlite:///t.db\nprofile: {profile}\n")
    with pytest.raises(InvalidStoreFile) as refused:
        load_store(store)
    assert message in str(refused.value) and "entities.0" in str(refused.value)
    if "column" in change:
        assert "entity 'labels': change by 'capture'" in str(refused.value)
