"""The shop misbehaving, from the contract fake over HTTPS with the test CA: each fault is
retried when retrying is safe, or ends the run with one sentence, and nothing is written
half."""

from __future__ import annotations

import pytest

from stockbridge.integrations.seliton.client import ShopClient, ShopError, ShopRefused
from stockbridge.integrations.seliton.config import ShopSettings
from tests.seliton.store import SECRET, USERNAME, Warehouse, ledger_rows


def settings(fake, tls_material, **changes) -> ShopSettings:
    values = {
        "url": fake.url,
        "username": USERNAME,
        "secret": SECRET,
        "ca_file": str(tls_material.ca_file),
        "timeout": 2,
        "attempts": 3,
        "max_wait": 30,
    }
    values.update(changes)
    return ShopSettings(**values)


@pytest.fixture
def client(fake, tls_material):
    waits: list[float] = []
    shop = ShopClient(settings(fake, tls_material), sleep=waits.append)
    shop.waits = waits  # type: ignore[attr-defined]
    yield shop
    shop.close()


@pytest.mark.parametrize("fault", ["status:503", "status:500", "drop", "truncate", "429:7"])
def test_a_passing_fault_is_retried(client, fake, fault):
    fake.add_order(5, [("1001", "1", "1.00")])
    fake.fault(fault, "getorders")
    answer = client.call("getorders", from_id="0", limit="10")
    assert answer.root.find("Orders/Order/id").text == "5"
    # A cut answer was processed by the shop (and is asked again); an error status was not.
    assert len(fake.actions("getorders")) == (2 if fault in ("drop", "truncate") else 1)
    assert client.requests == 2
    if fault.startswith("429"):
        assert client.waits == [7.0]  # Retry-After honoured


def test_retry_after_is_capped_and_a_lasting_fault_is_one_sentence(fake, tls_material):
    waits: list[float] = []
    with ShopClient(settings(fake, tls_material, max_wait=2), sleep=waits.append) as shop:
        fake.fault("429:3600", "getorders", times=3)
        with pytest.raises(ShopError) as caught:
            shop.call("getorders", from_id="0", limit="10")
    assert waits == [2.0, 2.0]
    message = str(caught.value)
    assert "answered getorders with HTTP 429, 3 time(s)" in message
    assert "\n" not in message and SECRET not in message


def test_timeout(fake, tls_material):
    with ShopClient(
        settings(fake, tls_material, timeout=0.3, attempts=2), sleep=lambda s: None
    ) as shop:
        fake.fault("slow:1.5", "getorders", times=2)
        with pytest.raises(ShopError, match=r"did not answer getorders within 0\.3 s, 2 time"):
            shop.call("getorders", from_id="0", limit="10")


def test_wrong_secret_is_refused_at_once(fake, tls_material):
    with ShopClient(settings(fake, tls_material, secret="wrong"), sleep=lambda s: None) as shop:
        with pytest.raises(ShopRefused) as caught:
            shop.call("getorders", from_id="0", limit="10")
        assert shop.requests == 1
    assert "refused user 'admin' and its secret key" in str(caught.value)


@pytest.mark.parametrize(
    ("fault", "words"),
    [("bomb", "declares a DTD or entities"), ("huge:70000000", "more than")],
)
def test_hostile_answers_are_bad_input(client, fake, fault, words):
    fake.fault(fault, "getorders")
    with pytest.raises(ShopError) as caught:
        client.call("getorders", from_id="0", limit="10")
    assert words in str(caught.value)


def test_an_unknown_ca_is_refused_with_its_remedy(fake, tls_material):
    wrong = settings(fake, tls_material, ca_file=str(tls_material.wrong_ca_file))
    with (
        ShopClient(wrong, sleep=lambda s: None) as shop,
        pytest.raises(ShopError, match=r"could not be verified; give its CA as shop\.ca_file"),
    ):
        shop.call("getorders", from_id="0", limit="1")
    assert fake.requests == []


def test_the_fake_refuses_malformed_xml(client, fake):
    with pytest.raises(ShopError, match="refused postxmlfeed: Malformed feed"):
        client.call("postxmlfeed", xml="<Feed><Products><Product>")


# -- whole runs ----------------------------------------------------------------------------


def nothing_written(shop) -> None:
    warehouse = Warehouse(shop.warehouse_url)
    try:
        assert warehouse.orders() == []
        assert warehouse.rows("SELECT COUNT(*) AS n FROM documents")[0].n == 0
    finally:
        warehouse.close()
    orders = ledger_rows(
        shop.ledger_url, "SELECT COUNT(*) AS n FROM seliton_orders WHERE store = :s", s=shop.store
    )
    assert orders[0].n == 0
    assert shop.fake.updates == [] and shop.fake.products == {}


def test_a_run_with_the_wrong_secret_writes_nothing(make_shop, sqlite_warehouse_url, run, fake):
    shop = make_shop(sqlite_warehouse_url)
    fake.add_order(1, [("1001", "1", "3.49")])
    fake.secret = "the shop's real secret"
    summary = run(shop)
    assert summary.state == "failed"
    assert "\n" not in summary.message and SECRET not in summary.message
    assert "refused user 'admin' and its secret key" in summary.message
    nothing_written(shop)


@pytest.mark.parametrize("fault", ["bomb", "truncate"])
def test_a_hostile_or_cut_answer_fails_the_run_cleanly(
    make_shop, sqlite_warehouse_url, run, fake, fault
):
    shop = make_shop(sqlite_warehouse_url, shop={"attempts": 1})
    fake.add_order(1, [("1001", "1", "3.49")])
    fake.fault(fault, "getorders")
    summary = run(shop)
    assert summary.state == "failed", summary.render()
    assert "getorders" in summary.message and "\n" not in summary.message
    nothing_written(shop)
    summary = run(shop)  # the fault is gone: the next run does it all, once
    assert summary.state == "completed", summary.render()
    assert fake.updates == [(1, "DY447824-0001-0000001")]


def test_faults_during_updateorder_keep_the_unp(make_shop, warehouse_url, run, fake):
    shop = make_shop(warehouse_url, shop={"attempts": 2})
    fake.add_order(1, [("1001", "1", "3.49")])
    fake.add_order(2, [("1002", "1", "3.19")])
    fake.fault("drop", "updateorder")
    summary = run(shop)
    assert summary.state == "completed", summary.render()
    # The dropped answer's update had reached the shop: asked again, with the same УНП.
    u1, u2 = "DY447824-0001-0000001", "DY447824-0001-0000002"
    assert fake.updates == [(1, u1), (1, u1), (2, u2)]

    fake.add_order(3, [("1003", "1", "3.29")])
    fake.fault("status:502", "updateorder", times=2)
    summary = run(shop)
    assert summary.state == "failed", summary.render()
    assert "answered updateorder with HTTP 502, 2 time(s)" in summary.message
    warehouse = Warehouse(shop.warehouse_url)
    try:
        assert [(r.order_id, r.unp) for r in warehouse.orders()][-1] == (3, "DY447824-0001-0000003")
    finally:
        warehouse.close()
    assert fake.orders[3].unp == ""
    cursor = ledger_rows(
        shop.ledger_url,
        "SELECT value FROM cursors WHERE store = :s AND name = 'last_order'",
        s=shop.store,
    )
    assert cursor[0].value == "2"  # not past the order the shop does not have yet
    summary = run(shop)
    assert summary.state == "completed", summary.render()
    assert fake.updates[3:] == [(3, "DY447824-0001-0000003")]
    cursor = ledger_rows(
        shop.ledger_url,
        "SELECT value FROM cursors WHERE store = :s AND name = 'last_order'",
        s=shop.store,
    )
    assert cursor[0].value == "3"
