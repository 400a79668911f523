"""Store files: typed, strict, with errors that name the key and never show a secret.

Most checks go through ``stockbridge validate`` (in this process for speed, plus one real
subprocess for the exit code and the absence of tracebacks); a few read the loaded model.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from stockbridge.cli import main
from stockbridge.config.loader import InvalidStoreFile, load_store

STOCKBRIDGE = str(Path(sys.executable).with_name("stockbridge"))
REPOSITORY = Path(__file__).resolve().parents[1]
SECRET = "Sup3r-S3cret-v4lue"


@pytest.fixture(autouse=True)
def in_a_shop_folder(tmp_path, monkeypatch):
    """Store files name relative paths (``shop/ID/...``), created by :func:`base` under a
    folder of their own, so local inputs exist and two stores never share a folder."""
    home = tmp_path / "cwd"
    home.mkdir()
    monkeypatch.chdir(home)


def base(**overrides: Any) -> dict[str, Any]:
    """A valid InterStock store file whose local folders exist (in the current folder)."""
    root = Path("shop") / str(overrides.get("store") or "boutique-lyon").replace("/", "_")
    (root / "import").mkdir(parents=True, exist_ok=True)
    (root / "articles.tsv").write_text("8880000000109\t1\n")
    document = {
        "store": "boutique-lyon",
        "integration": "interstock",
        "schedule": {"every": "60s"},
        "catalogue": f"{root}/articles.tsv",
        "import": f"{root}/import/",
        "export": f"{root}/export/articles.txt",
        "errors": f"{root}/errors/",
    }
    document.update(overrides)
    return {k: v for k, v in document.items() if v is not None}


def write(folder: Path, name: str, document: dict[str, Any] | str) -> Path:
    path = folder / name
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return path


def validate(capsys, *paths: Path) -> tuple[int, str, str]:
    code = main(["validate", *map(str, paths)])
    out, err = capsys.readouterr()
    return code, out, err


def problems(capsys, path: Path) -> list[str]:
    """The problem lines for one file, with the ``<file>: `` prefix removed."""
    code, _, err = validate(capsys, path)
    assert code == 2, err
    prefix = f"{path}: "
    lines = [line for line in err.splitlines() if line.startswith(prefix)]
    assert err.splitlines()[-1].endswith("problem(s) in 1 file(s)")
    return [line.removeprefix(prefix) for line in lines]


# -- valid files -----------------------------------------------------------------------------


def test_valid_file_and_folder_pass(tmp_path, capsys):
    one = write(tmp_path, "lyon.yaml", base())
    write(tmp_path, "nice.yml", base(store="boutique-nice"))
    write(tmp_path, "notes.txt", "not a store file")
    code, out, err = validate(capsys, one)
    assert (code, err) == (0, "")
    assert "boutique-lyon (interstock)" in out
    code, out, err = validate(capsys, tmp_path)
    assert (code, err) == (0, "")
    assert "boutique-lyon (interstock)" in out
    assert "boutique-nice (interstock)" in out


def test_shipped_sample_store_is_valid(capsys, monkeypatch):
    monkeypatch.setenv("SELITON_SECRET", "sample")  # magazin-1.yaml's shop secret
    # The samples name folders the demo creates, relative to the repository.
    Path("data_samples").symlink_to(REPOSITORY / "data_samples")
    from stockbridge.config.models import FileIntake

    for sample in Path("data_samples/configs").glob("*.yaml"):
        store = load_store(sample)
        for location in store.imports if isinstance(store, FileIntake) else []:
            location.local_path.mkdir(parents=True, exist_ok=True)  # folders the demo makes
    code, out, err = validate(capsys, Path("data_samples/configs"))
    assert (code, err) == (0, "")
    assert "boutique-paris (interstock)" in out


def test_defaults_and_shorthands(tmp_path):
    store = load_store(write(tmp_path, "s.yaml", base(schedule=None)))
    assert store.schedule.every == timedelta(seconds=60)
    assert store.schedule.cron is None
    assert store.ledger is None
    assert store.archive is None
    assert store.negative_stock == "zero"
    assert store.settle.min_age == timedelta(seconds=5)
    assert store.settle.recheck == timedelta(seconds=1)
    assert [loc.url for loc in store.imports] == ["shop/boutique-lyon/import/"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90), ("90", 90), ("90s", 90), ("5m", 300), ("1h", 3600), ("1.5h", 5400), ("500ms", 0.5)],
)
def test_durations(tmp_path, text, seconds):
    store = load_store(write(tmp_path, "s.yaml", base(settle={"min_age": text, "recheck": 0})))
    assert store.settle.min_age == timedelta(seconds=seconds)


def test_cron_schedule_with_timezone(tmp_path):
    store = load_store(
        write(
            tmp_path,
            "s.yaml",
            base(schedule={"cron": "*/5 8-20 * * 1-6", "timezone": "Europe/Paris"}),
        )
    )
    assert store.schedule.cron == "*/5 8-20 * * 1-6"
    assert store.schedule.every is None
    assert store.schedule.timezone == "Europe/Paris"


def test_location_as_plain_string_and_as_mapping(tmp_path):
    store = load_store(
        write(
            tmp_path,
            "s.yaml",
            base(
                catalogue="~/Dropbox/till/articles.tsv",
                **{
                    "import": [
                        "/srv/in/",
                        {
                            "url": "ftp://till@ftp.example.com:2121/outbox/",
                            "password": "${FTP_PASSWORD}",
                            "tls": True,
                            "timeout": 5,
                        },
                        {"url": "s3://bucket/prefix/", "key": "AKIA", "secret": "${S3_SECRET}"},
                    ]
                },
            ),
        ),
        environ={"FTP_PASSWORD": SECRET, "S3_SECRET": SECRET},
    )
    plain, ftp, s3 = store.imports
    assert plain.url == "/srv/in/"
    assert plain.scheme == "file"
    assert plain.password is None
    assert ftp.scheme == "ftp"
    assert ftp.tls is True
    assert ftp.timeout == 5
    assert ftp.password.get_secret_value() == SECRET
    assert s3.secret.get_secret_value() == SECRET
    assert ftp.display == "ftp://ftp.example.com:2121/outbox/"  # no user name
    assert SECRET not in repr(store)
    assert store.catalogue.local_path == Path("~/Dropbox/till/articles.tsv").expanduser()


def test_env_var_substitution_inside_values(tmp_path):
    path = write(
        tmp_path,
        "s.yaml",
        base(
            store="shop-${SHOP}",
            ledger="postgresql://stock@${DB_HOST}/ledger",
            **{"import": "${EXCHANGE}/import/"},
        ),
    )
    store = load_store(path, environ={"SHOP": "lyon", "DB_HOST": "db.local", "EXCHANGE": "/x"})
    assert store.store == "shop-lyon"
    assert store.ledger == "postgresql://stock@db.local/ledger"
    assert store.imports[0].url == "/x/import/"


# -- problems --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(
            {"schedule": {"every": "60s", "foo": 1}},
            "schedule.foo: is not a known key here",
            id="unknown-nested-key",
        ),
        pytest.param({"colour": "red"}, "colour: is not a known key here", id="unknown-top-key"),
        pytest.param(
            {"import": ["/in/", {"url": "/in2/", "urll": "x"}]},
            "import[1].urll: is not a known key here",
            id="unknown-key-in-list",
        ),
        pytest.param(
            {"import": ["/in/", {"ur": "/in2/"}]},
            "import[1].url: is required but missing",
            id="missing-url-in-list",
        ),
        pytest.param({"errors": None}, "errors: is required but missing", id="missing-errors"),
        pytest.param(
            {"catalogue": None}, "catalogue: is required but missing", id="missing-catalogue"
        ),
        pytest.param(
            {"negative_stock": "maybe"},
            "negative_stock: must be 'zero' or 'keep' (got 'maybe')",
            id="enum",
        ),
        pytest.param(
            {"schedule": {"every": "5x"}},
            "schedule.every: '5x' is not a duration; write it like 30s, 5m or 1h",
            id="duration",
        ),
        pytest.param(
            {"settle": {"min_age": "ten minutes"}},
            "settle.min_age: 'ten minutes' is not a duration",
            id="duration-words",
        ),
        pytest.param(
            {"settle": {"recheck": -1}},
            "settle.recheck: '-1' is not a duration of 0 or more",
            id="negative-duration",
        ),
        pytest.param(
            {"schedule": {"every": "0.5s"}},
            "schedule: 'every' must be at least 1s",
            id="every-too-short",
        ),
        pytest.param(
            {"schedule": {"cron": "* *"}},
            "schedule: cron '* *' needs 5 fields",
            id="cron",
        ),
        pytest.param(
            {"schedule": {"cron": "61 * * * *"}},
            "schedule: cron '61 * * * *' is not a schedule Prefect can run",
            id="cron-out-of-range",
        ),
        pytest.param(
            {"schedule": {"cron": "a b c d e"}},
            "schedule: cron 'a b c d e' is not a schedule Prefect can run",
            id="cron-words",
        ),
        pytest.param(
            {"schedule": {"every": "60s", "cron": "* * * * *"}},
            "schedule: give exactly one of 'every' (like 60s) or 'cron'",
            id="every-and-cron",
        ),
        pytest.param(
            {"schedule": {"cron": "* * * * *", "timezone": "Mars/Olympus"}},
            "schedule.timezone: unknown time zone 'Mars/Olympus'; use a name like Europe/Paris",
            id="timezone",
        ),
        pytest.param(
            {"store": "Boutique Paris"},
            "store: 'Boutique Paris' is not a valid store id",
            id="store-id",
        ),
        pytest.param({"store": None}, "store: is required but missing", id="store-missing"),
        pytest.param(
            {"integration": "interstok"},
            "integration: 'interstok' is not an integration stockbridge knows; did you mean"
            " 'interstock'? (known: interstock",
            id="integration",
        ),
        pytest.param(
            {"export": "http://example.com/articles.txt"},
            "export.url: scheme 'http://' is not supported",
            id="scheme",
        ),
        pytest.param(
            {"errors": {"url": "/srv/errors/", "tls": True}},
            "errors: 'tls' applies to ftp:// locations only",
            id="tls-not-ftp",
        ),
        pytest.param(
            {"batch": {"max_files": 0}},
            "batch.max_files: must be at least 1 (got 0)",
            id="batch",
        ),
    ],
)
def test_each_problem_names_its_key(tmp_path, capsys, overrides, expected):
    path = write(tmp_path, "s.yaml", base(**overrides))
    found = problems(capsys, path)
    assert any(line.startswith(expected) for line in found), found


def test_all_problems_of_a_file_are_listed_at_once(tmp_path, capsys):
    path = write(
        tmp_path,
        "s.yaml",
        base(store="Bad Id", schedule={"every": "1x", "foo": 1}, negative_stock="no", errors=None),
    )
    found = problems(capsys, path)
    keys = sorted(line.split(":", 1)[0] for line in found)
    assert keys == ["errors", "negative_stock", "schedule.every", "schedule.foo", "store"]


def test_missing_environment_variable_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("STOCKBRIDGE_TEST_UNSET", raising=False)
    path = write(
        tmp_path,
        "s.yaml",
        base(
            **{
                "import": [
                    "shop/boutique-lyon/import/",
                    {"url": "ftp://h/x", "password": "${STOCKBRIDGE_TEST_UNSET}"},
                ]
            }
        ),
    )
    found = problems(capsys, path)
    assert found == [
        "import[1].password: environment variable STOCKBRIDGE_TEST_UNSET is not set; export it"
        " before running (or put it in the service's environment)"
    ]
    monkeypatch.setenv("STOCKBRIDGE_TEST_UNSET", SECRET)
    code, out, err = validate(capsys, path)
    assert (code, err) == (0, "")
    assert SECRET not in out


def test_password_in_url_is_refused_without_showing_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FTP_PASSWORD", SECRET)
    path = write(
        tmp_path,
        "s.yaml",
        base(
            catalogue="sftp://till:${FTP_PASSWORD}@sftp.example.com/articles.tsv",
            **{"import": ["/in/", {"url": f"ftp://till:{SECRET}@ftp.example.com/x/"}]},
            export=f"http://till:p@ss{SECRET}@example.com/articles.txt",
        ),
    )
    code, out, err = validate(capsys, path)
    assert code == 2
    assert "catalogue.url: has a password inside the URL; move it to the 'password' key" in err
    assert "import[1].url: has a password inside the URL" in err
    assert "export.url: scheme 'http://' is not supported" in err
    assert SECRET not in out + err
    assert "p@ss" not in err


def test_secret_values_of_wrong_type_are_hidden(tmp_path, capsys):
    path = write(
        tmp_path,
        "s.yaml",
        base(
            catalogue={"url": "sftp://h/a.tsv", "password": 1234567, "port": 0},
            **{"import": {"url": "s3://b/x/", "key": 987654321, "secret": 55555555}},
        ),
    )
    code, _, err = validate(capsys, path)
    assert code == 2
    assert "catalogue.port: must be at least 1 (got 0)" in err
    assert "catalogue.password: must be text (got a hidden value)" in err
    assert "import.key:" in err
    assert "import.secret:" in err
    for value in ("1234567", "987654321", "55555555"):
        assert value not in err


def test_duplicate_store_ids_across_files(tmp_path, capsys):
    first = write(tmp_path, "a.yaml", base())
    other = base(store="other")
    second = write(tmp_path, "b.yaml", {**other, "store": "boutique-lyon"})
    code, _, err = validate(capsys, tmp_path)
    assert code == 2
    assert f"{second}: store: 'boutique-lyon' is already used by {first}" in err
    assert "1 problem(s) in 2 file(s)" in err


def test_invalid_yaml_gives_line_and_column(tmp_path, capsys):
    path = write(tmp_path, "s.yaml", "store: x\nintegration: interstock\n  bad: [\n")
    found = problems(capsys, path)
    assert len(found) == 1
    assert found[0].startswith("is not valid YAML at line 3, column 6")


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", ""])
def test_a_file_that_is_no_mapping(tmp_path, capsys, text):
    path = write(tmp_path, "s.yaml", text)
    assert problems(capsys, path) == ["must be a mapping of keys (store:, integration:, ...)"]


def test_missing_path_and_empty_folder_are_usage_errors(tmp_path, capsys):
    code, _, err = validate(capsys, tmp_path / "nope.yaml")
    assert code == 2
    assert "nope.yaml: no such file or folder" in err
    code, _, err = validate(capsys, tmp_path)
    assert code == 2
    assert "no .yaml store files found" in err


def test_load_store_raises_with_every_problem(tmp_path):
    path = write(tmp_path, "s.yaml", base(colour="red", negative_stock="x"))
    with pytest.raises(InvalidStoreFile) as caught:
        load_store(path)
    assert sorted(p.key for p in caught.value.problems) == ["colour", "negative_stock"]
    assert all(p.file == path for p in caught.value.problems)


def test_validate_command_exit_code_and_no_traceback(tmp_path):
    write(tmp_path, "a.yaml", base(schedule={"every": "60s", "foo": 1}))
    write(tmp_path, "b.yaml", "store: [unclosed\n")
    write(
        tmp_path,
        "c.yaml",
        base(store="c", **{"import": {"url": f"ftp://u:{SECRET}@h/"}}),
    )
    write(tmp_path, "d.yaml", base(store="d"))
    done = subprocess.run([STOCKBRIDGE, "validate", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "a.yaml: schedule.foo: is not a known key here" in done.stderr
    assert "b.yaml: is not valid YAML at line" in done.stderr
    assert "c.yaml: import.url: has a password inside the URL" in done.stderr
    assert SECRET not in done.stderr + done.stdout
    assert "3 problem(s) in 4 file(s)" in done.stderr
    assert "d (interstock)" in done.stdout

    done = subprocess.run(
        [STOCKBRIDGE, "validate", str(tmp_path / "d.yaml")], capture_output=True, text=True
    )
    assert (done.returncode, done.stderr) == (0, "")
