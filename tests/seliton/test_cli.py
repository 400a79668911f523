"""``stockbridge run`` of a Seliton store as a user runs it: exit codes and one sentence."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.seliton.store import SECRET, Warehouse, sqlite_warehouse

CLI = Path(sys.executable).with_name("stockbridge")


def cli(*args: str) -> subprocess.CompletedProcess:
    import prefect.settings

    env = dict(os.environ)
    env["PREFECT_API_URL"] = prefect.settings.PREFECT_API_URL.value()
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, env=env, timeout=120)


def test_run_prints_each_order_with_its_unp_and_a_wrong_secret_in_one_sentence(
    make_shop, tmp_path, prefect_harness, fake
):
    warehouse_url = sqlite_warehouse(tmp_path / "warehouse")
    shop = make_shop(warehouse_url)
    fake.add_order(41, [("1001", "1", "3.49")])
    fake.secret = "not the one in the environment"
    result = cli("run", str(shop.config))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "refused user 'admin' and its secret key" in output
    assert "Traceback" not in output and SECRET not in output
    warehouse = Warehouse(warehouse_url)
    try:
        assert warehouse.orders() == []
    finally:
        warehouse.close()

    fake.secret = SECRET
    result = cli("run", str(shop.config))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "order 41 imported as order, УНП DY447824-0001-0000001" in output
    assert "sent 1001 Сок портокал 1 л 3.49, 23 available" in output
    assert SECRET not in output


def test_a_secret_written_in_clear_stops_the_run(make_shop, tmp_path, prefect_harness, fake):
    shop = make_shop(sqlite_warehouse(tmp_path / "warehouse"))
    shop.rewrite(shop={"secret": "plain-text-key"})
    result = cli("run", str(shop.config))
    output = result.stdout + result.stderr
    assert result.returncode in (1, 2), output
    assert "shop.secret: must be an environment variable" in output
    assert "plain-text-key" not in output
    assert "Traceback" not in output
