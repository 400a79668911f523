"""The store file: the issue's YAML as written, secrets only as ${ENV}, https verified."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockbridge.config.loader import InvalidStoreFile, load_store
from stockbridge.errors import ConfigError
from stockbridge.integrations.seliton.config import check_secret_is_a_reference
from stockbridge.integrations.seliton.serve import stores_to_run_on_start

ISSUE_YAML = """\
store: magazin-1
integration: seliton
warehouse: mysql://sklad@127.0.0.1/warehouse
operator: "1"
object: Магазин 1
groups: [Сок]
export: {goods: true, quantities: false, visible: false, on_start: true}
import: {orders: true, goods: false, on_start: true}
document_type: order
shop: {url: https://microinvest.myseliton.com/, username: admin, secret: "${SELITON_SECRET}"}
fiscal_device: DY447824
schedule: {every: 5m}
"""


def test_the_issue_yaml_needs_the_secret_quoted_in_flow_style(tmp_path):
    """``{..., secret: ${X}}`` is not YAML (a ``{`` inside a flow mapping): one sentence."""
    text = ISSUE_YAML.replace('"${SELITON_SECRET}"', "${SELITON_SECRET}")
    with pytest.raises(InvalidStoreFile, match="not valid YAML at line 10"):
        load_store(write(tmp_path, text), {"SELITON_SECRET": "Zq9-secret"})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "magazin-1.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_issue_yaml_is_a_valid_store(tmp_path):
    path = write(tmp_path, ISSUE_YAML)
    config = load_store(path, {"SELITON_SECRET": "Zq9-secret"})
    assert config.groups == ["Сок"] and config.object == "Магазин 1"
    assert config.oper_type == 19 and config.unp_operator == "0001"
    assert config.shop.secret.get_secret_value() == "Zq9-secret"
    assert "Zq9-secret" not in repr(config)
    assert config.shop.verify is True and config.shop.ca_file is None
    check_secret_is_a_reference(path)
    assert stores_to_run_on_start([(path, config)]) == [path]


def test_shipped_sample_store_is_valid(monkeypatch):
    monkeypatch.setenv("SELITON_SECRET", "x")
    root = Path(__file__).resolve().parents[2]
    config = load_store(root / "configs" / "magazin-1.yaml")
    assert config.integration == "seliton"


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (("https://microinvest", "http://microinvest"), "shop.url", "https://"),
        (("fiscal_device: DY447824", "fiscal_device: DY44"), "fiscal_device", "should match"),
        (('operator: "1"', 'operator: "12345"'), "operator", "1 to 4"),
        (("document_type: order", "document_type: invoice"), "document_type", "order"),
        (("groups: [Сок]", "groups: []"), "groups", "must not be empty"),
        (
            ("{goods: true, quantities", "{goods: true, quantitys"),
            "export.quantitys",
            "not a known",
        ),
    ],
)
def test_bad_settings_name_their_key(tmp_path, change, key, words):
    path = write(tmp_path, ISSUE_YAML.replace(*change))
    with pytest.raises(InvalidStoreFile) as caught:
        load_store(path, {"SELITON_SECRET": "Zq9-secret"})
    message = str(caught.value)
    assert f": {key}:" in message and words in message, message
    assert "Traceback" not in message


def test_a_secret_in_clear_is_refused_with_one_sentence(tmp_path):
    path = write(tmp_path, ISSUE_YAML.replace('"${SELITON_SECRET}"', "admin"))
    with pytest.raises(ConfigError) as caught:
        check_secret_is_a_reference(path)
    message = str(caught.value)
    assert "shop.secret" in message and "environment variable" in message
    assert "admin" not in message.split("shop.secret")[1]


def test_missing_ca_file_and_on_start_off(tmp_path):
    text = ISSUE_YAML.replace(
        '${SELITON_SECRET}"}', '${SELITON_SECRET}", ca_file: /nowhere/ca.pem}'
    )
    with pytest.raises(InvalidStoreFile, match="does not exist"):
        load_store(write(tmp_path, text), {"SELITON_SECRET": "Zq9-secret"})
    text = ISSUE_YAML.replace("on_start: true}", "on_start: false}")
    path = write(tmp_path, text)
    assert (
        stores_to_run_on_start([(path, load_store(path, {"SELITON_SECRET": "Zq9-secret"}))]) == []
    )
