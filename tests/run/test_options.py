"""Every option says what it does, and the command says its version (issue 12 §2)."""

from __future__ import annotations

import argparse
import re
from importlib.metadata import version
from pathlib import Path

import pytest

from stockbridge.cli import _parser, main


def _every_parser(parser: argparse.ArgumentParser, path: str = "stockbridge"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _every_parser(child, f"{path} {name}")


def test_every_option_of_every_command_has_a_help_text():
    missing = []
    commands = 0
    for path, parser in _every_parser(_parser()):
        commands += 1
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            if not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert commands > 10  # the integrations' own commands are walked too
    assert missing == []


def test_version_is_the_installed_one(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"stockbridge {version('stockbridge')}"


def test_the_makefile_port_is_a_variable_and_serve_names_make_server():
    makefile = Path("Makefile").read_text()
    assert re.search(r"^PORT \?= 4200$", makefile, re.M)
    assert "--port $(PORT)" in makefile and "127.0.0.1:$(PORT)/api" in makefile
    assert "4200" not in makefile.replace("PORT ?= 4200", "")


def test_serve_without_a_server_names_make_server(monkeypatch, capsys, make_store):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: None}):
        assert main(["serve", str(make_store())]) == 2
    assert "`make server`" in capsys.readouterr().err


def test_run_only_is_refused_in_one_sentence_for_a_store_without_exchanges(
    make_store, capsys, prefect_harness
):
    """``--only push:ENTITY`` reaches a chain store's flow (tests/chain); a store whose
    integration has no exchanges gets one sentence and exit 2, and nothing runs."""
    store = make_store()
    assert main(["run", str(store), "--only", "push:customers"]) == 2
    err = capsys.readouterr().err
    assert "--only is for stores whose runs have exchanges (chain)" in err
    assert "Traceback" not in err
