"""Issue 12 section 1: ``make demo`` runs its own samples whatever was done to ``configs/``.

The README invites editing ``configs/``; a user did (an ``ftp://`` import), and the demo then
copied its samples into a local folder named ``ftp:`` and crashed on its second run. Here the
demo runs twice in a copy of the project whose ``configs/`` is edited that way, with the
FTP server down: nothing of it may be used.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from stockbridge import demo
from tests.servers import free_port

REPOSITORY = Path(__file__).resolve().parents[2]


def test_demo_runs_its_samples_twice_after_configs_were_edited(
    tmp_path, monkeypatch, prefect_harness, capsys
):
    project = tmp_path / "project"
    project.mkdir()
    (project / "data_samples").symlink_to(REPOSITORY / "data_samples")  # read, never written
    shutil.copytree(REPOSITORY / "configs", project / "configs")
    for path in (project / "configs").glob("*.yaml"):
        document = yaml.safe_load(path.read_text())
        document["import"] = f"ftp://127.0.0.1:{free_port()}/outbox/"
        document["ledger"] = "sqlite:///elsewhere/ledger.db"
        path.write_text(yaml.safe_dump(document))
    before = {p: p.read_text() for p in (project / "configs").iterdir()}
    monkeypatch.chdir(project)

    for _ in range(2):
        assert demo.main() == 0
        out = capsys.readouterr().out
        assert "Traceback" not in out
        assert "is not in data_samples/configs" not in out, "a sample taken from configs/"
        assert "stockbridge demo: store 'boutique-paris' on 2 sample files" in out
        assert "stockbridge demo: cellar 'cave-lyon', 2 nights of journals" in out
        assert "boutique-paris: 2 file(s) applied" in out

    assert sorted(p.name for p in project.iterdir()) == [".work", "configs", "data_samples"]
    assert not (project / "elsewhere").exists()
    assert {p: p.read_text() for p in (project / "configs").iterdir()} == before
    stores = sorted(p.name for p in (project / ".work" / "demo" / "configs").iterdir())
    assert stores == sorted(p.name for p in (REPOSITORY / "data_samples" / "configs").iterdir())
    assert (project / ".work" / "demo" / "exchange" / "export" / "articles.txt").is_file()
    assert (project / ".work" / "demo" / "cave-lyon" / "export" / "cellar-stock.csv").is_file()
