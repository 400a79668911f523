"""Hostile store files: arbitrary YAML-ish text, mutated valid files, unsafe YAML tags.

``load_store`` must return a store or raise :class:`InvalidStoreFile` whose every problem
names the file, and never show a secret. Known loader bugs (see the report of this suite)
are pinned by strict ``xfail`` tests at the end; the fuzzers skip exactly the inputs those
bugs crash on, by asking the same code that crashes, so they stay green until the fix and
start covering those inputs the day it lands.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockbridge.config.loader import InvalidStoreFile, load_store
from stockbridge.config.models import StoreBase

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

SECRET = "Sup3r-S3cret-v4lue"
ENVIRON = {"PW": SECRET, "S3_KEY": SECRET + "-k", "S3_SECRET": SECRET + "-s", "HOST": "ftp.local"}

REPO_SAMPLE = Path(__file__).resolve().parents[2] / "configs" / "boutique-paris.yaml"
RICH = {
    "store": "boutique-lyon",
    "integration": "interstock",
    "description": "every key the model knows",
    "schedule": {"cron": "*/5 * * * *", "timezone": "Europe/Paris"},
    "ledger": "sqlite:///ledger.db",
    "enabled": True,
    "catalogue": {
        "url": "sftp://${HOST}/till/articles.tsv",
        "username": "till",
        "password": "${PW}",
        "port": 22,
        "timeout": 10,
    },
    "import": [
        "/srv/import/",
        {"url": "ftp://${HOST}/outbox/", "tls": True, "password": "${PW}", "verify": False},
    ],
    "export": {
        "url": "s3://bucket/export/articles.txt",
        "key": "${S3_KEY}",
        "secret": "${S3_SECRET}",
        "endpoint_url": "http://127.0.0.1:9000",
        "region": "eu-west-3",
    },
    "errors": "/srv/errors/",
    "archive": "/srv/archive/",
    "settle": {"min_age": "5s", "recheck": 1},
    "batch": {"max_files": 10, "chunk_bytes": 2048},
    "negative_stock": "keep",
}
KEYS = sorted(
    {
        "every",
        "cron",
        "timezone",
        "min_age",
        "recheck",
        "max_files",
        "chunk_bytes",
        "url",
        "password",
        "port",
        "tls",
        "verify",
        "timeout",
        "key",
        "secret",
        "store",
        "integration",
        "import",
        "export",
        "errors",
        "archive",
        "settle",
        "batch",
        "schedule",
        "negative_stock",
        "enabled",
        "ledger",
        "catalogue",
        "username",
    }
)


def base_documents() -> list[dict[str, Any]]:
    return [yaml.safe_load(REPO_SAMPLE.read_text()), RICH]


# -- strategies ------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.dates(),
    st.text(max_size=20),
    st.sampled_from(
        [
            "${HOST}",
            "${UNSET}",
            "$",
            "${",
            "${1BAD}",
            "~",
            "~nobody/x",
            "60s",
            "5m",
            "-1s",
            "0",
            "1h",
            "*/5 * * * *",
            "UTC",
            "Mars/Olympus",
            "../..",
            "/etc/passwd",
            "ftp://h/x",
            "ftp://u:p@h/x",
            "ftps://h:99999/x",
            "s3://b/k",
            "sftp://[::1/x",
            "http://h/",
            "file:///tmp/x",
            "interstock",
            "zero",
            "keep",
            "boutique-lyon",
            "",
            " ",
            "\x00",
            "\u202e",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def mutated(draw) -> dict[str, Any]:
    document = copy.deepcopy(draw(st.sampled_from(base_documents())))
    for _ in range(draw(st.integers(1, 4))):
        containers = list(_containers(document))
        parent = draw(st.sampled_from(containers))
        if isinstance(parent, list):
            if not parent:
                parent.append(draw(values))
                continue
            index = draw(st.integers(0, len(parent) - 1))
            action = draw(st.sampled_from(["replace", "delete", "append"]))
            if action == "replace":
                parent[index] = draw(values)
            elif action == "delete":
                del parent[index]
            else:
                parent.append(draw(values))
            continue
        action = draw(st.sampled_from(["replace", "replace", "delete", "add", "rename", "wrap"]))
        if not parent or action == "add":
            parent[draw(st.sampled_from(KEYS) | st.text(max_size=10))] = draw(values)
            continue
        key = draw(st.sampled_from(sorted(parent, key=str)))
        if action == "replace":
            parent[key] = draw(values)
        elif action == "delete":
            del parent[key]
        elif action == "rename":
            parent[str(key) + draw(st.sampled_from(["s", "_", " ", "X"]))] = parent.pop(key)
        else:
            parent[key] = [parent[key]]
    return document


def _containers(value: Any):
    if isinstance(value, dict | list):
        yield value
        for child in value.values() if isinstance(value, dict) else value:
            yield from _containers(child)


YAMLISH = "abcs:-[]{}&*!|>'\"#%@`,?\n \t${}\\01.~e+_/"


@st.composite
def yamlish(draw) -> str:
    """Broken, half-valid and valid YAML: random syntax, or a valid file with bytes changed."""
    if draw(st.booleans()):
        return draw(st.text(alphabet=st.sampled_from(YAMLISH) | st.characters(), max_size=200))
    text = yaml.safe_dump(draw(st.sampled_from(base_documents())), sort_keys=False)
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 3))
        text = text[:at] + draw(st.text(alphabet=YAMLISH, max_size=4)) + text[at + cut :]
    return text


# -- the contract ----------------------------------------------------------------------------


def load(path: Path) -> StoreBase | InvalidStoreFile:
    try:
        return load_store(path, environ=ENVIRON)
    except InvalidStoreFile as exc:
        assert exc.problems, "an InvalidStoreFile must say what is wrong"
        for problem in exc.problems:
            assert problem.file == path
            assert str(problem).startswith(f"{path}: ")
        assert str(exc) == "\n".join(map(str, exc.problems))
        assert SECRET not in str(exc)
        return exc


@FUZZ
@given(text=yamlish())
def test_any_text_loads_or_is_refused_naming_the_file(tmp_path, text):
    path = tmp_path / "store.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    load(path)


@FUZZ
@given(raw=st.binary(max_size=200))
def test_any_bytes_load_or_are_refused_naming_the_file(tmp_path, raw):
    path = tmp_path / "store.yaml"
    path.write_bytes(raw)
    load(path)


@FUZZ
@given(document=mutated())
def test_mutated_store_files_load_or_are_refused_naming_the_file(tmp_path, document):
    path = tmp_path / "store.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    result = load(path)
    if isinstance(result, StoreBase):
        assert result.integration == "interstock"  # type: ignore[attr-defined]


def test_the_unmutated_documents_are_valid(tmp_path):
    for number, document in enumerate(base_documents()):
        path = tmp_path / f"{number}.yaml"
        path.write_text(yaml.safe_dump(document))
        assert isinstance(load(path), StoreBase)


# -- YAML is loaded safely -------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        "!!python/object/apply:os.system ['touch {marker}']",
        "store: !!python/object/apply:os.system ['touch {marker}']",
        "!!python/object/new:subprocess.Popen [['touch', '{marker}']]",
        "store: !!python/name:os.system",
        "store: !!python/module:os",
        "store: !!python/object:pathlib.Path {{}}",
        "integration: !!python/tuple [interstock]",
        "store: !custom {{a: 1}}",
    ],
)
def test_python_tags_are_refused_and_nothing_runs(tmp_path, payload):
    marker = tmp_path / "pwned"
    path = tmp_path / "store.yaml"
    path.write_text(payload.format(marker=marker))
    with pytest.raises(InvalidStoreFile) as caught:
        load_store(path, environ={})
    assert str(caught.value).startswith(f"{path}: ")
    assert "tag" in str(caught.value)
    assert not marker.exists()


def test_environment_values_are_not_parsed_as_yaml(tmp_path):
    """``${VAR}`` is substituted after parsing: a value cannot inject keys or tags."""
    document = yaml.safe_load(REPO_SAMPLE.read_text())
    document["description"] = "${EVIL}"
    path = tmp_path / "store.yaml"
    path.write_text(yaml.safe_dump(document))
    evil = "x\nnegative_stock: keep\nfoo: !!python/object/apply:os.system ['true']"
    store = load_store(path, environ={"EVIL": evil})
    assert store.description == evil  # type: ignore[attr-defined]
    assert store.negative_stock == "zero"  # type: ignore[attr-defined]


# -- inputs that once crashed the loader ---------------------------------------------------


def _sample_with(tmp_path: Path, **changes: Any) -> Path:
    document = yaml.safe_load(REPO_SAMPLE.read_text())
    document.update(changes)
    path = tmp_path / "store.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize(
    "changes",
    [
        {"schedule": {"every": float("inf")}},
        {"schedule": {"every": 1e300}},
        {"schedule": {"every": "99999999999999999d"}},
        {"schedule": {"every": 10**30}},
        {"settle": {"min_age": 1e30}},
    ],
    ids=["inf", "1e300", "huge-days", "huge-int", "min_age"],
)
def test_huge_durations_are_refused(tmp_path, changes):
    path = _sample_with(tmp_path, **changes)
    with pytest.raises(InvalidStoreFile, match=str(path)):
        load_store(path, environ={})


def test_a_time_zone_that_is_a_folder_is_refused(tmp_path):
    path = _sample_with(tmp_path, schedule={"every": "60s", "timezone": "Europe"})
    with pytest.raises(InvalidStoreFile, match=str(path)):
        load_store(path, environ={})


@pytest.mark.parametrize(
    "text",
    ["[" * 5000 + "]" * 5000, "store: " + "{a: " * 3000 + "1" + "}" * 3000, "a: &a [*a]\n"],
    ids=["deep-list", "deep-mapping", "self-alias"],
)
def test_recursive_or_deeply_nested_yaml_is_refused(tmp_path, text):
    path = tmp_path / "store.yaml"
    path.write_text(text)
    with pytest.raises(InvalidStoreFile, match=str(path)):
        load_store(path, environ={})


def test_a_key_with_a_line_break_cannot_forge_a_problem_line(tmp_path):
    path = tmp_path / "store.yaml"
    forged = '"x\\n/etc/other.yaml: store: is required but missing": 1\n'
    path.write_text(REPO_SAMPLE.read_text() + forged)
    with pytest.raises(InvalidStoreFile) as caught:
        load_store(path, environ={})
    for line in str(caught.value).splitlines():
        assert line.startswith(f"{path}: "), line
