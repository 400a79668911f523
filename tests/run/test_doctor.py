"""`stockbridge doctor` (issue 12 §4): one line per check, against real servers.

FTPS (pyftpdlib with a test CA), S3 (moto), SFTP (paramiko, pinned key) and local
folders; the ledger is looked at, never created; secrets never appear in the output.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from stockbridge import integrations
from stockbridge.cli import main
from stockbridge.doctor import Check
from tests.locations.test_sftp import fingerprint
from tests.servers import FTP_PASSWORD, S3_SECRET

SECRET = "doctor-Secret-8842"


def hook_checks(store, path: Path):
    """An integration's own doctor hook, as the registry names it (module:attribute)."""
    yield Check("shop API answers", True, f"checked for {store.store} from {path.name}")
    yield Check("shop API key", False, "the key was refused: set SHOP_API_KEY to a valid one")


def _write(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / f"{document['store']}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _lines(out: str) -> dict[str, str]:
    """Check name -> "mark detail", from doctor's indented lines."""
    found = {}
    for line in out.splitlines():
        match = re.match(r"^  (ok|warn|FAIL)\s+(.+?): (.*)$", line)
        if match:
            found[match[2]] = f"{match[1]} {match[3]}"
    return found


def test_doctor_checks_every_location_the_ledger_and_certificates(
    ftps_server, s3_server, sftp_server, sftp_host_key, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("SHOP_FTPS_PASSWORD", FTP_PASSWORD)
    monkeypatch.setenv("SHOP_S3_SECRET", S3_SECRET)
    monkeypatch.setenv("SHOP_SFTP_PASSWORD", sftp_server.password)
    (ftps_server.root / "outbox").mkdir()
    (ftps_server.root / "outbox" / "orders-1.txt").write_text("8880000000116\t-1\n")
    s3_server.client.put_object(Bucket=s3_server.bucket, Key="errors/old.errors.txt", Body=b"x")
    catalogue = tmp_path / "articles.tsv"
    catalogue.write_text("8880000000116\t5\n")
    ledger = tmp_path / "ledger" / "ledger.db"
    store = _write(
        tmp_path,
        {
            "store": "shop-doctor",
            "integration": "interstock",
            "ledger": f"sqlite:///{ledger}",
            "catalogue": str(catalogue),
            "import": {
                "url": ftps_server.url("outbox"),
                "username": ftps_server.user,
                "password": "${SHOP_FTPS_PASSWORD}",
                "ca_file": str(ftps_server.ca_file),
            },
            "errors": {
                "url": f"s3://{s3_server.bucket}/errors/",
                "endpoint_url": s3_server.endpoint_url,
                "key": s3_server.key,
                "secret": "${SHOP_S3_SECRET}",
                "region": s3_server.region,
            },
            "archive": {
                "url": sftp_server.url("archive"),
                "username": sftp_server.user,
                "password": "${SHOP_SFTP_PASSWORD}",
                "host_key": fingerprint(sftp_host_key),
            },
            "export": str(tmp_path / "out" / "articles.txt"),
        },
    )

    code = main(["doctor", str(store)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    checks = _lines(out)
    assert out.splitlines()[0] == f"shop-doctor (interstock): {store}"
    assert checks["import folder"].startswith("ok ftps://127.0.0.1:")
    assert checks["import folder"].endswith("reachable, 1 file(s)")
    assert re.match(
        r"ok .*: valid, expires in (29|30) day\(s\)", checks["import folder certificate"]
    )
    assert checks["errors folder writable"].startswith("ok a probe file was written")
    # the archive folder is not there yet: created for the probe, then removed again
    assert checks["archive folder writable"].endswith("does not exist yet; it can be created there")
    assert checks["catalogue file"].endswith("reachable, the file is there")
    assert checks["export file writable"].startswith("ok ")
    assert checks["ledger"] == f"ok sqlite:///{ledger} does not exist yet; the first run creates it"
    # Probes removed, nothing created, no secret shown.
    listed = s3_server.client.list_objects_v2(Bucket=s3_server.bucket).get("Contents", [])
    assert [o["Key"] for o in listed if "doctor" in o["Key"]] == []
    assert not (sftp_server.root / "archive").exists()
    assert not ledger.parent.exists()
    for secret in (FTP_PASSWORD, S3_SECRET, sftp_server.password):
        assert secret not in out + err


def test_doctor_says_what_to_fix_and_fails(ftp_server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SHOP_PASSWORD", SECRET)  # not the server's password
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    store = _write(
        tmp_path,
        {
            "store": "shop-sick",
            "integration": "interstock",
            "ledger": "postgresql://stock:${SHOP_PASSWORD}@127.0.0.1:1/ledger",
            "catalogue": str(tmp_path / "missing.tsv"),
            "import": {
                "url": ftp_server.url("outbox"),
                "username": ftp_server.user,
                "password": "${SHOP_PASSWORD}",
            },
            "errors": str(blocker / "errors"),
            "export": str(tmp_path / "out" / "articles.txt"),
        },
    )
    registry = integrations.integrations()
    monkeypatch.setitem(
        registry,
        "interstock",
        dataclasses.replace(registry["interstock"], doctor=f"{__name__}:hook_checks"),
    )

    code = main(["doctor", str(store)])
    out, err = capsys.readouterr()
    assert code == 1
    checks = _lines(out)
    assert checks["import folder"].startswith("FAIL cannot connect to ftp://127.0.0.1:")
    assert (
        checks["catalogue file"].startswith("FAIL ") and "missing.tsv" in checks["catalogue file"]
    )
    assert checks.get("errors folder writable", checks["errors folder"]).startswith("FAIL ")
    assert checks["ledger"].startswith("FAIL cannot reach the ledger at postgresql")
    # the integration's hook runs after the shared checks
    names = list(checks)
    assert names[-2:] == ["shop API answers", "shop API key"]
    assert checks["shop API key"].startswith("FAIL the key was refused")
    assert err.strip().splitlines()[-1] == "5 check(s) failed"
    assert SECRET not in out + err


def test_doctor_checks_a_configured_prefect_api(make_store, capsys):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tests.servers import free_port

    dead = f"http://127.0.0.1:{free_port()}/api"
    with temporary_settings(updates={PREFECT_API_URL: dead}):
        assert main(["doctor", str(make_store())]) == 1
    checks = _lines(capsys.readouterr().out)
    assert checks["Prefect API"].startswith(f"FAIL {dead} does not answer")


def test_a_bad_store_file_is_reported_and_the_others_checked(make_store, tmp_path, capsys):
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "good.yaml").write_text(make_store(name="shop-fine").read_text())
    (folder / "bad.yaml").write_text("store: shop-bad\nintegration: interstock\ncolour: red\n")
    assert main(["doctor", str(folder)]) == 2
    out, err = capsys.readouterr()
    assert "bad.yaml" in err and "shop-fine (interstock)" in out


@pytest.fixture(autouse=True)
def _no_configured_server(monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)


def test_https_certificates_for_integration_hooks(tls_material):
    """The helper a web shop's hook uses: verified against the CA, days to expiry."""
    import http.server
    import ssl
    import threading

    from stockbridge.doctor import https_certificate

    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_material.cert_file, tls_material.key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}/api/"
        good = https_certificate("shop API certificate", url, ca_file=str(tls_material.ca_file))
        assert good.ok and not good.warning
        assert re.search(r": valid, expires in (29|30) day\(s\)", good.detail)
        wrong = https_certificate(
            "shop API certificate", url, ca_file=str(tls_material.wrong_ca_file)
        )
        assert not wrong.ok and "give its CA as ca_file" in wrong.detail
    finally:
        server.shutdown()
        server.server_close()


def test_the_ledger_check_reads_the_schema_on_each_database(ledger_url):
    from stockbridge.doctor import ledger_check
    from stockbridge.ledger.ledger import Ledger

    Ledger.open(ledger_url).close()  # created and migrated, as a first run does
    check = ledger_check(ledger_url)
    assert check.ok and not check.warning
    assert re.search(r" reachable, schema up to date \(\d{4}\)$", check.detail), check.detail
