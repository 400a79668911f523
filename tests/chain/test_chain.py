"""The chain end to end on real databases: push exactly once, late commits, refusals, pull
with opt-outs and deletions, customers both ways, poison rows, jobs, checks, stock."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from stockbridge.config.loader import InvalidStoreFile, load_store
from stockbridge.integrations.chain.checks import checks
from stockbridge.integrations.chain.database import COPY_FROM
from tests.chain.chain_store import PROFILE, make_chain, run

CLI = Path(sys.executable).with_name("stockbridge")
HQ_KINDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]


def completed(summary) -> str:
    text = summary.render()
    assert summary.state == "completed", text
    return text


def dump(chain, tables=("chain_tickets", "chain_ticket_lines", "stockbridge_acks")):
    return {t: sorted(map(repr, (tuple(r.values()) for r in chain.hq_rows(t)))) for t in tables}


# -- 1. profile and store files ---------------------------------------------------------------


def test_reference_profile_covers_the_seeds_list():
    directions = {e.name: e.direction for e in PROFILE.entities}
    for up in (
        "tickets",
        "ticket_lines",
        "stock_movements",
        "transfer_notes",
        "purchase_orders",
        "receptions",
        "sellers",
        "time_clock",
    ):
        assert directions[up] == "up"
    assert directions["customers"] == "both"
    for down in (
        "articles",
        "keyboards",
        "keyboard_keys",
        "stores",
        "products",
        "technical_sheets",
        "printers",
    ):
        assert directions[down] == "down"
    assert PROFILE.entity("ticket_lines").parent.entity == "tickets"


def test_store_file_refuses_a_password_in_the_url_and_takes_one_from_the_environment(tmp_path):
    path = tmp_path / "lyon.yaml"
    path.write_text(
        "store: lyon\nintegration: chain\ntill: sqlite:///till.db\n"
        "hq: {url: 'mysql://lyon:pw@hq.example:2618/central'}\n"
    )
    with pytest.raises(InvalidStoreFile) as refused:
        load_store(path)
    assert "hq.url" in str(refused.value) and "password" in str(refused.value)
    assert "pw@" not in str(refused.value)
    path.write_text(
        "store: lyon\nintegration: chain\ntill: sqlite:///till.db\nschedule: {every: 30s}\n"
        "hq: {url: 'mysql://hq.example:2618/central', username: lyon, password: '${HQ_PW}'}\n"
        "receive: {prices: false, printers: true}\n"
    )
    store = load_store(path, environ={"HQ_PW": "s3cret"})
    assert store.hq.sqlalchemy_url().password == "s3cret"
    assert "s3cret" not in store.hq.display and store.receive.prices is False


def test_a_profile_listing_a_line_before_its_ticket_is_refused_in_one_sentence(tmp_path):
    bad = tmp_path / "till.yaml"
    bad.write_text(
        "name: mine\nentities:\n"
        "  - {name: lines, direction: up, key: [id], change: {by: id},"
        " parent: {entity: tickets, column: ticket_id},"
        " columns: {id: integer, ticket_id: integer}}\n"
        "  - {name: tickets, direction: up, key: [id], change: {by: id}, columns: {id: integer}}\n"
    )
    path = tmp_path / "lyon.yaml"
    path.write_text(f"store: lyon\nintegration: chain\ntill: sqlite:///t.db\nprofile: {bad}\n")
    with pytest.raises(InvalidStoreFile) as refused:
        load_store(path)
    assert "parent 'tickets' must be listed before it" in str(refused.value)


# -- 2. push exactly once ---------------------------------------------------------------------


@pytest.mark.parametrize("hq_kind", HQ_KINDS)
def test_sales_reach_hq_exactly_once_and_a_second_run_changes_nothing(tmp_path, databases, hq_kind):
    chain = make_chain(tmp_path, databases, hq_kind=hq_kind)
    completed(run(chain.configs["hq"]))
    lyon = chain.tills["lyon"]
    sold = [lyon.sale(3) for _ in range(7)]
    completed(run(chain.configs["lyon"]))
    lines = chain.hq_rows("chain_ticket_lines")
    assert len(lines) == 21 and {r["sb_store"] for r in lines} == {"lyon"}
    before = dump(chain)
    text = completed(run(chain.configs["lyon"]))
    assert "ticket_lines" not in text
    assert dump(chain) == before
    expected: dict[str, int] = {}
    for _, items in sold:
        for article, quantity in items:
            expected[article] = expected.get(article, 0) - int(quantity) * 1000
    assert chain.stock("lyon") == expected


def test_a_line_never_arrives_before_its_ticket_and_a_late_lower_id_is_not_lost(
    tmp_path, databases
):
    chain = make_chain(tmp_path, databases, stores=("lyon",))
    completed(run(chain.configs["hq"]))
    till = chain.tills["lyon"]
    tickets, lines = till.tables["tickets"], till.tables["ticket_lines"]
    row = {"store": "lyon", "article": "A00001", "label": "x", "quantity": 1, "amount": 1}
    with till.engine.begin() as connection:
        connection.execute(tickets.insert().values(id=1, store="lyon", number="1", total=1))
        connection.execute(lines.insert().values(id=1, ticket_id=1, **row))
        connection.execute(lines.insert().values(id=3, ticket_id=1, **row))  # 2 commits late
        connection.execute(lines.insert().values(id=4, ticket_id=2, **row))  # ticket 2 not yet
    text = completed(run(chain.configs["lyon"]))
    assert sorted(r["id"] for r in chain.hq_rows("chain_ticket_lines")) == [1, 3]
    assert "2 id(s) waited for" in text
    with till.engine.begin() as connection:
        connection.execute(lines.insert().values(id=2, ticket_id=1, **row))  # the late commit
        connection.execute(tickets.insert().values(id=2, store="lyon", number="2", total=1))
    completed(run(chain.configs["lyon"]))
    assert sorted(r["id"] for r in chain.hq_rows("chain_ticket_lines")) == [1, 2, 3, 4]
    [ack] = chain.hq_rows("stockbridge_acks", "store = 'lyon' AND entity = 'ticket_lines'")
    assert (ack["high"], ack["gaps"]) == (4, "[]")
    assert chain.stock("lyon") == {"A00001": -4000}


@pytest.mark.mariadb
def test_a_row_committed_late_by_a_concurrent_till_transaction_is_sent_later(tmp_path, databases):
    """On MariaDB the till's own auto-increment: a transaction that took id N commits after
    N+1 was sent."""
    chain = make_chain(tmp_path, databases, till_kind="mariadb", stores=("lyon",))
    completed(run(chain.configs["hq"]))
    till = chain.tills["lyon"]
    till.sale(1)
    table = till.tables["ticket_lines"]
    row = {
        "store": "lyon",
        "ticket_id": 1,
        "article": "A00002",
        "label": "l",
        "quantity": 1,
        "amount": 1,
    }
    slow = till.engine.connect()
    slow_tx = slow.begin()
    slow.execute(table.insert().values(**row))  # takes id 2, not committed
    with till.engine.begin() as fast:
        fast.execute(table.insert().values(**row))  # id 3, committed
    completed(run(chain.configs["lyon"]))
    assert sorted(r["id"] for r in chain.hq_rows("chain_ticket_lines")) == [1, 3]
    slow_tx.commit()
    slow.close()
    completed(run(chain.configs["lyon"]))
    assert sorted(r["id"] for r in chain.hq_rows("chain_ticket_lines")) == [1, 2, 3]


def test_a_till_row_claiming_another_store_is_refused_and_reported(tmp_path, databases):
    chain = make_chain(tmp_path, databases, stores=("lyon",))
    completed(run(chain.configs["hq"]))
    till = chain.tills["lyon"]
    till.sale(2)
    with till.engine.begin() as connection:
        connection.execute(
            till.tables["tickets"].insert().values(id=50, store="paris", number="P", total=1)
        )
    text = completed(run(chain.configs["lyon"]))
    assert "1 refused (another store's)" in text
    assert sorted(r["id"] for r in chain.hq_rows("chain_tickets")) == [1]
    with chain.ledger().connect() as connection:
        [reject] = connection.execute(
            sa.text(
                "SELECT d.document, r.line, r.raw, r.reason FROM rejects r JOIN documents d"
                " ON d.id = r.document_id WHERE d.store = 'lyon'"
            )
        ).all()
    assert reject.document == "tickets 50" and reject.line == 50
    assert '"store": "paris"' in reject.raw and "claims store 'paris'" in reject.reason


# -- 3. pull, opt-outs, deletions; customers both ways ---------------------------------------


def test_pull_keeps_opted_out_prices_gives_new_articles_hqs_and_deletes(tmp_path, databases):
    chain = make_chain(tmp_path, databases, lyon={"receive": {"prices": False, "printers": False}})
    hq = chain.tills["hq"]
    hq.set_article("A1", price=Decimal("2.00"), printer="P1", label="first")
    for store in ("hq", "lyon", "paris"):
        completed(run(chain.configs[store]))
    hq.set_article("A1", price=Decimal("3.00"), printer="P2", label="renamed")
    hq.set_article("A2", price=Decimal("5.00"), printer="P9")
    completed(run(chain.configs["hq"]))
    text = completed(run(chain.configs["lyon"]))
    completed(run(chain.configs["paris"]))
    assert "kept by opt-out" in text
    lyon = {r["code"]: r for r in chain.tills["lyon"].rows("articles")}
    paris = {r["code"]: r for r in chain.tills["paris"].rows("articles")}
    assert (lyon["A1"]["price"], lyon["A1"]["printer"], lyon["A1"]["label"]) == (
        Decimal("2.000"),
        "P1",
        "renamed",
    )
    assert (paris["A1"]["price"], paris["A1"]["printer"]) == (Decimal("3.000"), "P2")
    assert lyon["A2"]["price"] == paris["A2"]["price"] == Decimal("5.000")
    assert lyon["A2"]["printer"] == "P9"
    hq.set_article("A1", deleted=True)
    completed(run(chain.configs["hq"]))
    completed(run(chain.configs["lyon"]))
    assert [r["code"] for r in chain.tills["lyon"].rows("articles")] == ["A2"]


@pytest.mark.parametrize("hq_kind", HQ_KINDS[:2])
def test_customers_edited_at_two_stores_at_once_end_equal_hq_winning(tmp_path, databases, hq_kind):
    chain = make_chain(tmp_path, databases, hq_kind=hq_kind)
    completed(run(chain.configs["hq"]))
    lyon, paris = chain.tills["lyon"], chain.tills["paris"]
    lyon.edit_customer("C1", name="Alice", email="a@old")
    completed(run(chain.configs["lyon"]))
    completed(run(chain.configs["paris"]))
    assert [r["email"] for r in paris.rows("customers")] == ["a@old"]
    lyon.edit_customer("C1", email="a@lyon")  # both edit the same customer
    paris.edit_customer("C1", email="a@paris")
    completed(run(chain.configs["lyon"]))  # first to HQ: accepted
    text = completed(run(chain.configs["paris"]))  # on an older HQ version: HQ's wins
    assert "1 conflict(s), HQ's version kept" in text
    completed(run(chain.configs["lyon"]))
    [central] = chain.hq_rows("chain_customers")
    assert central["email"] == "a@lyon" and central["sb_version"] == 2
    for till in (lyon, paris):
        assert [(r["name"], r["email"]) for r in till.rows("customers")] == [("Alice", "a@lyon")]
    paris.edit_customer("C1", phone="0600")  # now on HQ's latest: accepted, reaches lyon
    completed(run(chain.configs["paris"]))
    completed(run(chain.configs["lyon"]))
    assert [r["phone"] for r in lyon.rows("customers")] == ["0600"]


# -- 4. a poison row --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hq_kind",
    [
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def test_a_row_hq_refuses_stops_its_entity_only_until_skipped(tmp_path, databases, hq_kind):
    chain = make_chain(tmp_path, databases, hq_kind=hq_kind, stores=("lyon",))
    completed(run(chain.configs["hq"]))
    till = chain.tills["lyon"]
    till.sale(1)
    with till.engine.begin() as connection:
        connection.execute(
            till.tables["ticket_lines"]
            .insert()
            .values(
                id=2,
                store="lyon",
                ticket_id=1,
                article="A00003",
                label="x" * 200,
                quantity=1,
                amount=1,
            )
        )
    till.sale(1)  # lines 3 behind the poison
    till.edit_customer("C7", name="Bob")
    summary = run(chain.configs["lyon"])
    assert summary.state == "failed"
    assert "HQ refused ticket_lines row 2" in summary.message
    assert f"stockbridge chain skip {chain.configs['lyon']} ticket_lines 2" in summary.message
    assert sorted(r["id"] for r in chain.hq_rows("chain_ticket_lines")) == [1]
    assert len(chain.hq_rows("chain_tickets")) == 2  # other entities went on
    assert [r["code"] for r in chain.hq_rows("chain_customers")] == ["C7"]
    with chain.ledger().connect() as connection:
        [history] = connection.execute(
            sa.text("SELECT state, message FROM runs WHERE store = 'lyon' AND state = 'failed'")
        ).all()
    assert "ticket_lines row 2" in history.message
    again = run(chain.configs["lyon"])
    assert again.state == "failed" and "row 2" in again.message
    done = subprocess.run(
        [str(CLI), "chain", "skip", str(chain.configs["lyon"]), "ticket_lines", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "skipped by hand" in done.stdout
    completed(run(chain.configs["lyon"]))
    assert sorted(r["id"] for r in chain.hq_rows("chain_ticket_lines")) == [1, 3]
    with chain.ledger().connect() as connection:
        names = connection.execute(
            sa.text("SELECT name FROM cursors WHERE store = 'lyon'")
        ).scalars()
        assert "skip:ticket_lines:2" in list(names)


@pytest.mark.postgres
def test_a_backlog_pushed_through_copy_stops_at_the_row_hq_refuses(tmp_path, databases):
    """A PostgreSQL HQ takes large batches through COPY; a value refused there is still found
    row by row: the rows before it arrive, the row is named, nothing after it is sent."""
    chain = make_chain(tmp_path, databases, hq_kind="postgresql", stores=("lyon",))
    completed(run(chain.configs["hq"]))
    till = chain.tills["lyon"]
    till.sales_backlog(100, 4)
    assert COPY_FROM < 400
    lines = till.tables["ticket_lines"]
    with till.engine.begin() as connection:
        connection.execute(lines.update().where(lines.c.id == 250).values(label="x" * 200))
    summary = run(chain.configs["lyon"])
    assert summary.state == "failed"
    assert "HQ refused ticket_lines row 250" in summary.message
    assert sorted(r["id"] for r in chain.hq_rows("chain_ticket_lines")) == list(range(1, 250))
    assert len(chain.hq_rows("chain_tickets")) == 100
    assert {r["label"] for r in chain.hq_rows("chain_ticket_lines")} == {
        r["label"] for r in till.rows("ticket_lines") if r["id"] < 250
    }


# -- 5. jobs ----------------------------------------------------------------------------------


def test_a_job_requested_at_hq_is_done_by_the_stores_next_run(tmp_path, databases):
    chain = make_chain(tmp_path, databases)
    chain.tills["hq"].set_article("A1")
    for store in ("hq", "lyon", "paris"):
        completed(run(chain.configs[store]))
    with chain.tills["lyon"].engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM articles"))  # lost at the store
    hq = str(chain.configs["hq"])
    asked = subprocess.run(
        [str(CLI), "jobs", "request", "--config", hq, "--stores", "all", "articles"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert asked.returncode == 0, asked.stderr
    assert "2 job(s) requested" in asked.stdout
    listed = subprocess.run(
        [str(CLI), "jobs", "list", "--config", hq], capture_output=True, text=True, timeout=120
    )
    assert listed.stdout.count("waiting") == 2, listed.stdout
    completed(run(chain.configs["lyon"]))
    assert [r["code"] for r in chain.tills["lyon"].rows("articles")] == ["A1"]
    jobs = {r["store"]: r for r in chain.hq_rows("stockbridge_jobs")}
    assert jobs["lyon"]["state"] == "done" and jobs["lyon"]["done_at"] is not None
    assert "articles: 1 received" in jobs["lyon"]["result"]
    assert jobs["paris"]["state"] == "waiting"
    refused = subprocess.run(
        [str(CLI), "jobs", "request", "--config", hq, "--stores", "nice", "articles"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 1 and "nice are not known at HQ" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_only_one_exchange_and_a_full_repull(tmp_path, databases):
    chain = make_chain(tmp_path, databases, stores=("lyon",))
    chain.tills["hq"].set_article("A1")
    completed(run(chain.configs["hq"]))
    chain.tills["lyon"].edit_customer("C1")
    chain.tills["lyon"].sale(1)
    text = completed(run(chain.configs["lyon"], only="push:customers"))
    assert "customers: 1 sent" in text and "tickets" not in text
    assert chain.hq_rows("chain_tickets") == []
    text = completed(run(chain.configs["lyon"], only="pull:articles"))
    assert "articles: 1 received" in text
    text = completed(run(chain.configs["lyon"], only="pull:articles"))  # in full again
    assert "articles: 1 received" in text


# -- 6. start-up checks -----------------------------------------------------------------------


def test_each_start_up_check_fails_on_purpose_with_one_sentence(tmp_path, databases):
    chain = make_chain(tmp_path, databases, stores=("lyon",))
    completed(run(chain.configs["hq"]))
    store = load_store(chain.configs["lyon"])
    assert all(c.ok for c in checks(store, "lyon.yaml")), list(checks(store, "lyon.yaml"))

    def failing(**changes):
        broken = store.model_copy(update=changes)
        return {c.name: c.detail for c in checks(broken, "lyon.yaml") if not c.ok}

    dead = type(store.till).model_validate({"url": "mysql://127.0.0.1:1/till", "timeout": 2})
    assert "cannot reach the till database" in failing(till=dead)["till database reachable"]
    assert "has no hq: key" in failing(hq=None)["HQ defined"]
    assert "cannot reach HQ's database" in failing(hq=dead)["HQ reachable"]
    assert "HQ does not know store 'nice'" in failing(store="nice")["store known at HQ"]
    assert "says HQ is 'head'" in failing(hq_store="head")["HQ number agrees"]
    chain.rewrite("lyon", hq_store="head")
    summary = run(chain.configs["lyon"])
    assert summary.state == "failed" and summary.message.startswith("HQ number agrees:")


# -- 7. stock at HQ ---------------------------------------------------------------------------


def test_a_transfer_leaves_one_store_and_enters_the_other(tmp_path, databases):
    chain = make_chain(tmp_path, databases)
    completed(run(chain.configs["hq"]))
    chain.tills["lyon"].transfer("paris", "A00009", 2)
    completed(run(chain.configs["lyon"]))
    assert chain.stock("lyon") == {"A00009": -2000}
    assert chain.stock("paris") == {"A00009": 2000}
    completed(run(chain.configs["lyon"]))
    assert chain.stock("paris") == {"A00009": 2000}
    shown = subprocess.run(
        [str(CLI), "movements", "--store", "paris", "--ledger", chain.ledger_url, "A00009"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert "transfer_in" in shown.stdout and "from lyon" in shown.stdout
