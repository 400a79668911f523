"""The cycle against real servers: the shop's levels read over HTTPS (test CA) and the stock
file published by FTP into the folder that HTTPS server serves (so the shop shows what was
published, as ShopFactory Cloud does); and the shop's file on FTP or S3 alone."""

from __future__ import annotations

import pytest

from tests.servers import FTPTestServer, S3TestServer
from tests.shopfactory.servers import HTTPSTestServer
from tests.shopfactory.shop import OPENING, make_shop, parse_shop, shop_text

pytestmark = pytest.mark.timeout(120)


def write_through(root, name: str, levels: dict[str, int]) -> None:
    temp = root / f".{name}.writing"
    temp.write_bytes(shop_text(levels))
    temp.replace(root / name)


def test_online_over_https_published_by_ftp(
    tmp_path,
    sqlite_url,
    run,
    ledger_of,
    https_server: HTTPSTestServer,
    ftp_server: FTPTestServer,
    monkeypatch,
):
    https_server.root = ftp_server.root  # the web server serves what FTP uploads
    ftp_server.root.mkdir(parents=True, exist_ok=True)
    from tests.servers import make_tls_material
    from tests.shopfactory.servers import running_https_server

    tls = make_tls_material(tmp_path / "tls")
    monkeypatch.setenv("SHOP_WEB_PASSWORD", "web-Secret-77")
    monkeypatch.setenv("SHOP_FTP_PASSWORD", ftp_server.password)
    with running_https_server(ftp_server.root, tls) as web:
        web.credentials = ("shop", "web-Secret-77")
        shop = make_shop(
            tmp_path,
            sqlite_url,
            online={
                "url": web.url("levels.txt"),
                "ca_file": str(tls.ca_file),
                "username": "shop",
                "password": "${SHOP_WEB_PASSWORD}",
                "timeout": 5,
            },
            publish={
                "url": ftp_server.url("/levels.txt"),
                "username": ftp_server.user,
                "password": "${SHOP_FTP_PASSWORD}",
                "timeout": 5,
            },
        )
        write_through(ftp_server.root, "levels.txt", OPENING)
        assert run(shop.config).state == "completed"

        levels = {**OPENING, "P1_red_17": 3_000}  # a web sale
        write_through(ftp_server.root, "levels.txt", levels)
        shop.deliver("delivery.txt", {"MUG-01": 10_000})
        summary = run(shop.config)
        text = summary.render()
        assert summary.state == "completed", text
        assert "web sales recorded: 1 unit(s) over 1 SKU(s)" in text
        expected = {**levels, "MUG-01": 22_000}
        assert parse_shop((ftp_server.root / "levels.txt").read_bytes()) == expected
        assert ledger_of(sqlite_url).available(shop.store) == expected
        assert any(r.startswith("GET /levels.txt") for r in web.requests)
        assert "web-Secret-77" not in text
        ledger = ledger_of(sqlite_url)
        for table in ("documents", "movements", "shopfactory_publications", "cursors", "runs"):
            rows = ledger.rows(f"SELECT * FROM {table}")
            assert rows and not any("web-Secret-77" in repr(row) for row in rows), table
            assert not any(ftp_server.password in repr(row) for row in rows), table

        # The next run reads back over HTTPS what FTP published: nothing sold, nothing to do.
        summary = run(shop.config)
        assert "web sales recorded: 0 unit(s)" in summary.render()
        assert "nothing to publish" in summary.render()


def test_an_untrusted_certificate_is_one_sentence_and_nothing_is_published(
    tmp_path, sqlite_url, run, https_server: HTTPSTestServer
):
    published = tmp_path / "published" / "levels.txt"
    published.parent.mkdir()
    published.write_bytes(b"kept\t1\n")
    write_through(https_server.root, "levels.txt", OPENING)
    shop = make_shop(
        tmp_path,
        sqlite_url,
        online={"url": https_server.url("levels.txt"), "ca_file": str(https_server.wrong_ca_file)},
        publish=str(published),
    )
    summary = run(shop.config)
    assert summary.state == "failed"
    assert summary.message.startswith(
        f"cannot read {https_server.url('levels.txt')}: the server's TLS certificate is not trusted"
    )
    assert "\n" not in summary.message
    assert published.read_bytes() == b"kept\t1\n"

    missing = make_shop(
        tmp_path,
        sqlite_url,
        online={"url": https_server.url("nothing.txt"), "ca_file": str(https_server.ca_file)},
        publish=str(published),
    )
    summary = run(missing.config)
    assert summary.state == "failed" and "does not exist; check 'online'" in summary.message


@pytest.mark.parametrize("backend", ["ftp", "s3"])
def test_the_shop_file_on_a_server(
    backend, tmp_path, sqlite_url, run, ledger_of, request, monkeypatch
):
    if backend == "ftp":
        server: FTPTestServer = request.getfixturevalue("ftp_server")
        monkeypatch.setenv("SHOP_FTP_PASSWORD", server.password)
        online = {
            "url": server.url("/shop/levels.txt"),
            "username": server.user,
            "password": "${SHOP_FTP_PASSWORD}",
            "timeout": 5,
        }
        (server.root / "shop").mkdir(parents=True)

        def write(levels):
            write_through(server.root / "shop", "levels.txt", levels)

        def read():
            return parse_shop((server.root / "shop" / "levels.txt").read_bytes())
    else:
        s3: S3TestServer = request.getfixturevalue("s3_server")
        online = {
            "url": f"s3://{s3.bucket}/shop/levels.txt",
            "endpoint_url": s3.endpoint_url,
            "key": s3.key,
            "secret": s3.secret,
            "region": s3.region,
            "timeout": 5,
        }

        def write(levels):
            s3.client.put_object(Bucket=s3.bucket, Key="shop/levels.txt", Body=shop_text(levels))

        def read():
            body = s3.client.get_object(Bucket=s3.bucket, Key="shop/levels.txt")["Body"]
            return parse_shop(body.read())

    shop = make_shop(tmp_path, sqlite_url, online=online)
    write(OPENING)
    assert run(shop.config).state == "completed"
    write({**OPENING, "P1_blue_17": 1_500, "MUG-01": 11_000})
    shop.deliver("delivery.txt", {"P1_blue_17": 6_000})
    summary = run(shop.config)
    assert summary.state == "completed", summary.render()
    expected = {**OPENING, "P1_blue_17": 7_500, "MUG-01": 11_000}
    assert read() == expected == ledger_of(sqlite_url).available(shop.store)
    assert "web sales recorded: 1.5 unit(s) over 2 SKU(s)" in summary.render()
