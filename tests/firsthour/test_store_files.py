"""Issue 12 section 1: nothing silently wrong in a store file, for every integration.

Each test is a mistake a new user made (the issue lists them), made here in a store file of
InterStock and of the cellar: ``validate`` must say it in one sentence naming the key, and
what ``validate`` cannot see without connecting the run must refuse the same way.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from stockbridge.cli import main
from stockbridge.config import loader
from stockbridge.config.loader import InvalidStoreFile, load_store
from stockbridge.integrations import integrations
from stockbridge.locations import open_folder
from tests.pointex.store import CellarStore

INTEGRATIONS = ("interstock", "pointex")
PYDANTIC_WORDS = ("Input should", "unable to", "instance of", "LocationConfig", "Value error")


def store_document(root: Path, kind: str, name: str = "shop", **overrides: Any) -> dict:
    """A valid store file of integration ``kind`` whose local folders exist under ``root``."""
    folder = root / name
    (folder / "import").mkdir(parents=True, exist_ok=True)
    catalogue = folder / ("articles.tsv" if kind == "interstock" else "cellar.csv")
    catalogue.write_text("8880000000109\t1\n")
    document = {
        "store": name,
        "integration": kind,
        "ledger": f"sqlite:///{root / 'ledger.db'}",
        "catalogue": str(catalogue),
        "import": str(folder / "import"),
        "export": str(folder / "export" / "stock.txt"),
        "errors": str(folder / "errors"),
        "settle": {"min_age": "0s", "recheck": "0s"},
    }
    document.update(overrides)
    return {k: v for k, v in document.items() if v is not None}


def write(path: Path, document: dict | str) -> Path:
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return path


def validate(capsys, *paths: Path) -> tuple[int, list[str]]:
    code = main(["validate", *map(str, paths)])
    _, err = capsys.readouterr()
    for line in err.splitlines():
        assert not any(word in line for word in PYDANTIC_WORDS), line
    return code, err.splitlines()


def problem_of(capsys, path: Path) -> list[str]:
    code, lines = validate(capsys, path)
    assert code == 2, lines
    return [line.removeprefix(f"{path}: ") for line in lines if line.startswith(f"{path}: ")]


# -- 1. a missing import location is an error naming the key and the path ------------------


@pytest.mark.parametrize("integration", INTEGRATIONS)
def test_validate_names_a_local_import_folder_that_does_not_exist(tmp_path, capsys, integration):
    missing = tmp_path / "path" / "that" / "does" / "not" / "exist"
    path = write(
        tmp_path / "s.yaml", store_document(tmp_path, integration, **{"import": f"{missing}/"})
    )
    assert problem_of(capsys, path) == [
        f"import: folder {missing} does not exist; create it or correct the path"
    ]


@pytest.mark.parametrize("integration", INTEGRATIONS)
def test_a_run_fails_in_one_sentence_when_the_import_folder_is_missing(
    tmp_path, prefect_harness, integration
):
    from stockbridge.cli import run_store

    document = store_document(tmp_path, integration)
    if integration == "pointex":
        cellar = CellarStore(tmp_path, document["ledger"], name="cave")
        document.update(catalogue=str(cellar.catalogue))
    path = write(tmp_path / "s.yaml", document)
    inbox = Path(document["import"])
    shutil.rmtree(inbox)  # validated while it existed; gone by the time of the run
    summary = run_store(path, integration)
    assert summary.state == "failed"
    assert summary.message == (
        f"import: folder {inbox} does not exist; create it or correct the path"
    )
    inbox.mkdir()
    assert run_store(path, integration).state == "completed"


def test_remote_folders_say_whether_they_exist(ftp_server, sftp_server, sftp_host_key):
    pin = "SHA256:" + base64.b64encode(hashlib.sha256(sftp_host_key.asbytes()).digest()).decode()
    (ftp_server.root / "outbox").mkdir()
    (sftp_server.root / "outbox").mkdir()
    for server, options in ((ftp_server, {}), (sftp_server, {"host_key": pin.rstrip("=")})):
        assert open_folder(server.config("/outbox/", **options)).folder_exists()
        assert not open_folder(server.config("/outbx/", **options)).folder_exists()


# -- 2. what validate can check without connecting -----------------------------------------


@pytest.mark.parametrize("integration", INTEGRATIONS)
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            lambda root: {"catalogue": str(root / "nope.tsv")},
            "catalogue: file {root}/nope.tsv does not exist; correct the path or put the file"
            " there",
            id="catalogue-missing",
        ),
        pytest.param(
            lambda root: {"ledger": ".work/demo/ledger.db"},
            "ledger: '.work/demo/ledger.db' is not a database URL; for a SQLite file write"
            " sqlite:///.work/demo/ledger.db",
            id="ledger-not-a-url",
        ),
        pytest.param(
            lambda root: {"ledger": "sqlit:///x.db"},
            "ledger: 'sqlit://' is not a ledger database stockbridge can use",
            id="ledger-unknown-backend",
        ),
        pytest.param(
            lambda root: {"export": f"{root}/shop/export/"},
            "export: '{root}/shop/export/' ends in '/', which names a folder; give the file's"
            " own path",
            id="export-ending-in-slash",
        ),
        pytest.param(
            lambda root: {"export": "ftp://ftp.example.com/export/"},
            "export: 'ftp://ftp.example.com/export/' ends in '/'",
            id="remote-export-ending-in-slash",
        ),
        pytest.param(
            lambda root: {"export": str(root / "shop" / "import")},
            "export: {root}/shop/import is a folder; give the file's own path inside it",
            id="export-is-a-folder",
        ),
        pytest.param(
            lambda root: {"description": "shop ${SHOP"},
            "description: has a '${' that is not a whole ${NAME} reference (a closing '}'"
            " missing?)",
            id="unclosed-env-ref",
        ),
        pytest.param(
            lambda root: {"errors": {"url": "ftp://h/errors/", "ca_file": str(root / "ca.pem")}},
            "errors.ca_file: no such file: {root}/ca.pem",
            id="ca-file-missing",
        ),
        pytest.param(
            lambda root: {"import": {"url": "sftp://h/in/", "key_file": str(root / "id")}},
            "import.key_file: no such file: {root}/id",
            id="key-file-missing",
        ),
        pytest.param(
            lambda root: {"import": {"url": "sftp://h/in/", "known_hosts": str(root / "kh")}},
            "import.known_hosts: no such file: {root}/kh",
            id="known-hosts-missing",
        ),
    ],
)
def test_validate_catches_without_connecting(tmp_path, capsys, integration, change, expected):
    path = write(tmp_path / "s.yaml", store_document(tmp_path, integration, **change(tmp_path)))
    found = problem_of(capsys, path)
    expected = expected.replace("{root}", str(tmp_path))
    assert any(line.startswith(expected) for line in found), found


def test_a_run_refuses_what_validate_refuses_from_the_text(tmp_path):
    """The text checks live in load_store, which every run goes through."""
    path = write(tmp_path / "s.yaml", store_document(tmp_path, "interstock", ledger="ledger.db"))
    with pytest.raises(InvalidStoreFile, match=r"ledger: 'ledger\.db' is not a database URL"):
        load_store(path)


# -- 3. two store files sharing a location ------------------------------------------------


@pytest.mark.parametrize("key", ["import", "export", "errors"])
def test_two_store_files_sharing_a_location_are_refused(tmp_path, capsys, key):
    first = store_document(tmp_path, "interstock", name="paris")
    second = store_document(tmp_path, "pointex", name="lyon", **{key: first[key]})
    a = write(tmp_path / "a.yaml", first)
    b = write(tmp_path / "b.yaml", second)
    code, lines = validate(capsys, a, b)
    assert code == 2
    shown = str(Path(first[key]))
    assert f"{b}: {key}: {shown} is also {key} of {a}; each store needs its own" in "\n".join(
        lines
    ), lines
    # Each file alone is fine: only together are they wrong.
    assert validate(capsys, a)[0] == 0
    assert validate(capsys, b)[0] == 0


def test_shared_locations_is_one_function_for_validate_and_serve(tmp_path):
    first = store_document(tmp_path, "interstock", name="paris")
    spelled_otherwise = first["import"] + "/./"
    second = store_document(tmp_path, "interstock", name="lyon", **{"import": spelled_otherwise})
    third = store_document(
        tmp_path, "pointex", name="cave", export=str(Path(first["import"]) / "stock.csv")
    )
    stores = [(write(tmp_path / f"{d['store']}.yaml", d), d) for d in (first, second, third)]
    loaded = [(path, load_store(path)) for path, _ in stores]
    problems = loader.shared_locations(loaded)
    assert [(p.file.name, p.key) for p in problems] == [
        ("lyon.yaml", "import"),
        ("cave.yaml", "export"),
    ]
    assert "a folder read for input" in problems[1].message
    assert loader.shared_locations(loaded[:1]) == []


def test_remote_locations_are_compared_by_server_and_path(tmp_path):
    first = store_document(
        tmp_path, "interstock", name="paris", export="ftp://Till.Example/out/a.txt"
    )
    second = store_document(
        tmp_path, "interstock", name="lyon", export="ftps://till.example/out//a.txt"
    )
    third = store_document(
        tmp_path, "interstock", name="nice", export="ftp://other.example/out/a.txt"
    )
    loaded = [(write(tmp_path / f"{d['store']}.yaml", d), None) for d in (first, second, third)]
    loaded = [(path, load_store(path)) for path, _ in loaded]
    assert [(p.file.name, p.key) for p in loader.shared_locations(loaded)] == [
        ("lyon.yaml", "export")
    ]


def test_errors_inside_the_import_folder_is_refused(tmp_path, capsys):
    document = store_document(tmp_path, "interstock")
    document["errors"] = document["import"]
    path = write(tmp_path / "s.yaml", document)
    assert problem_of(capsys, path) == [
        f"errors: {document['import']} is also import of this file; each store needs its own,"
        " or one run takes or overwrites the other's files"
    ]


# -- 4. an unknown integration still reports the rest ---------------------------------------


def test_a_misspelt_integration_hides_no_other_problem(tmp_path, capsys):
    document = store_document(
        tmp_path,
        "interstock",
        integration="interstok",
        negative_stock="maybe",
        catalog="x",
        export="ftp://h/export/",
    )
    found = problem_of(capsys, write(tmp_path / "s.yaml", document))
    assert found[0] == (
        "integration: 'interstok' is not an integration stockbridge knows; did you mean"
        f" 'interstock'? (known: {', '.join(integrations())})"
    )
    keys = sorted(line.split(":", 1)[0] for line in found)
    assert keys == ["catalog", "export", "integration", "negative_stock"]


def test_an_unknown_integration_reports_what_every_integration_shares(tmp_path, capsys):
    document = store_document(
        tmp_path, "interstock", integration="zzz", schedule={"evry": "60s"}, store="Bad Id"
    )
    found = problem_of(capsys, write(tmp_path / "s.yaml", document))
    keys = sorted(line.split(":", 1)[0] for line in found)
    assert keys == ["integration", "schedule.evry", "store"]


# -- 5. messages in our words, with the key spelt one way ---------------------------------


@pytest.mark.parametrize("integration", INTEGRATIONS)
def test_yaml_booleans_are_explained(tmp_path, capsys, integration):
    path = tmp_path / "s.yaml"
    text = yaml.safe_dump(store_document(tmp_path, integration)) + "negative_stock: no\n"
    write(path, text)
    assert problem_of(capsys, path) == [
        "negative_stock: must be 'zero' or 'keep'; YAML read no as false (unquoted yes, no, on"
        " and off are booleans): to give a word, write it in quotes, like negative_stock: 'no'"
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"catalog": "x"}, "catalog: is not a known key here; did you mean 'catalogue'?"),
        (
            {"schedule": {"evry": "60s"}},
            "schedule.evry: is not a known key here; did you mean 'every'?",
        ),
        (
            {"import": {"url": "ftp://h/in/", "usename": "u"}},
            "import.usename: is not a known key here; did you mean 'username'?",
        ),
        ({"colour": "red"}, "colour: is not a known key here; check the spelling"),
        (
            {"errors": ["a/", "b/"]},
            "errors: must be a path or URL, or a mapping with url: and its options",
        ),
        ({"enabled": "maybe"}, "enabled: must be true or false (got 'maybe')"),
        ({"batch": {"max_files": "many"}}, "batch.max_files: must be a whole number (got 'many')"),
        ({"batch": {"max_files": 0}}, "batch.max_files: must be at least 1 (got 0)"),
        ({"description": ["a", "b"]}, "description: must be text"),
    ],
)
def test_messages_are_ours_with_did_you_mean(tmp_path, capsys, change, expected):
    path = write(tmp_path / "s.yaml", store_document(tmp_path, "interstock", **change))
    found = problem_of(capsys, path)
    assert any(line.startswith(expected) for line in found), found


def test_one_key_path_spelling_for_every_message(tmp_path, capsys, monkeypatch):
    """``[n]`` only where a key holds several values, in the loader's messages and in the
    environment variable's alike."""
    monkeypatch.delenv("SB_TEST_UNSET", raising=False)
    single = {"url": "ftp://h/in/", "password": "${SB_TEST_UNSET}", "usename": "u"}
    path = write(tmp_path / "s.yaml", store_document(tmp_path, "interstock", **{"import": single}))
    keys = sorted(line.split(":", 1)[0] for line in problem_of(capsys, path))
    assert keys == ["import.password", "import.usename"]

    several = [single, {"url": "ftp://h/in2/", "password": "${SB_TEST_UNSET}", "usename": "u"}]
    path = write(tmp_path / "s.yaml", store_document(tmp_path, "interstock", **{"import": several}))
    keys = sorted(line.split(":", 1)[0] for line in problem_of(capsys, path))
    assert keys == [
        "import[0].password",
        "import[0].usename",
        "import[1].password",
        "import[1].usename",
    ]
