"""The ``pointex_links`` flow: the drinks to link answered in the Prefect UI.

The flow runs in a thread against the session's Prefect test server; the test is the
owner at the UI: it waits for the run to pause, reads the pending table, and resumes the
run with the form's answers through the API, exactly as the UI's "Resume" button does.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterName,
)
from prefect.flow_runs import resume_flow_run

from flows.pointex import pointex_links
from stockbridge.integrations.pointex.links import Cellar
from tests.pointex.store import OPENING, CellarStore, line

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.timeout(120)]


class Started:
    """A ``pointex_links`` run going on in a thread, named so the test can find it."""

    def __init__(self, store: CellarStore):
        self.name = f"links-{uuid.uuid4().hex[:12]}"
        self.state = None
        flow = pointex_links.with_options(flow_run_name=self.name)

        def target() -> None:
            self.state = flow(config_path=str(store.path), return_state=True)

        self.thread = threading.Thread(target=target, name=self.name, daemon=True)
        self.thread.start()

    def flow_run(self):
        with get_client(sync_client=True) as client:
            found = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[self.name]))
            )
        return found[0] if found else None

    def wait_until_paused(self, seconds: float = 30) -> UUID:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            run = self.flow_run()
            if run is not None and run.state is not None and run.state.is_paused():
                return run.id
            assert self.thread.is_alive(), f"the run ended without pausing: {self.state}"
            time.sleep(0.2)
        raise AssertionError(f"the run did not pause in {seconds} s")

    def wait(self, seconds: float = 60):
        self.thread.join(seconds)
        assert not self.thread.is_alive(), f"the run did not end in {seconds} s"
        return self.state


def artifact_data(key: str) -> list:
    """The data of every version of the artifact ``key``."""
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    return [artifact.data for artifact in found]


def artifact_rows(key: str) -> list[dict]:
    [data] = artifact_data(key)
    return json.loads(data) if isinstance(data, str) else data


@pytest.fixture
def store(tmp_path, sqlite_url):
    return CellarStore(tmp_path, sqlite_url)


def test_answers_from_the_form_link_and_move_the_stock(store):
    store.drop(
        "journal-2026-11-27.csv",
        [
            line("0401", "CH MARGAUX 15", amount="480,00"),
            line("0501", "VRE CDR GUIGAL 20", "3", "21,00", "Vins au verre"),
            line("0402", "CH TALBOT 17", amount="68,00"),
            line("0404", "CAHORS CLOS TRIGUEDINA 19", amount="42,00"),
            line("0900", "BOUCHON", amount="0,00"),
            line("0777", "VIN DU MOIS"),
        ],
    )
    assert store.run().lines_held == 6

    started = Started(store)
    flow_run_id = started.wait_until_paused()
    pending = {row["till code"]: row for row in artifact_rows(f"{store.name}-links-pending")}
    assert set(pending) == {"0401", "0501", "0402", "0404", "0900", "0777"}
    assert (pending["0401"]["proposed"], pending["0401"]["item"]) == ("yes", "MARG15")
    assert pending["0501"]["waiting"] == "3"
    assert pending["0402"]["proposed"] == "almost"
    # The form the UI draws: one row per till code, the proposal pre-filled.
    with get_client(sync_client=True) as client:
        schema = json.loads(client.read_flow_run_input(flow_run_id, "paused-1-schema"))
        description = json.loads(client.read_flow_run_input(flow_run_id, "paused-1-description"))
    assert description.startswith(f"**6 drink(s) to link** in {store.name}.")
    form = schema["properties"]
    assert set(form) == {f"code_{code}" for code in pending}
    assert form["code_0401"]["title"] == "0401: CH MARGAUX 15"
    assert form["code_0401"]["default"] == {
        "answer": "yes",
        "item": "MARG15",
        "vintage": 2015,
        "name": None,
        "per": 1,
    }
    assert (form["code_0402"]["default"]["answer"], form["code_0402"]["default"]["vintage"]) == (
        "almost",
        2017,
    )
    assert form["code_0777"]["default"]["answer"] == "later"

    resume_flow_run(
        flow_run_id,
        run_input={
            "code_0401": {"answer": "yes", "item": "MARG15", "per": 1},
            "code_0501": {"answer": "yes", "item": "GUIG20", "per": 6},
            "code_0402": {"answer": "almost", "item": "TALB16", "vintage": 2017, "per": 1},
            "code_0404": {"answer": "no", "name": "Cahors Clos Triguedina", "vintage": 2019},
            "code_0900": {"answer": "ignore"},
            "code_0777": {"answer": "later"},
        },
    )
    state = started.wait()
    assert state.is_completed(), state

    ledger = store.ledger()
    try:
        cellar = Cellar(ledger, store.name)
        linked = {code: (link.item, link.per) for code, link in cellar.links().items()}
        assert [w.till_reference for w in cellar.waiting()] == ["0777"]
    finally:
        ledger.close()
    talbot_2017 = linked["0402"][0]
    assert linked == {
        "0401": ("MARG15", 1),
        "0501": ("GUIG20", 6),
        "0402": (talbot_2017, 1),
        "0404": ("manual-cahors-clos-triguedina-2019", 1),
        "0900": (None, 1),
    }
    stock = store.stock()
    assert (stock["MARG15"], stock["GUIG20"]) == (OPENING["MARG15"] - 1000, OPENING["GUIG20"] - 500)
    assert (stock[talbot_2017], stock["manual-cahors-clos-triguedina-2019"]) == (-1000, -1000)
    assert stock["TALB16"] == OPENING["TALB16"]

    answered = {row["till code"]: row for row in artifact_rows(f"{store.name}-links-answered")}
    assert set(answered) == {"0401", "0501", "0402", "0404", "0900"}  # not the one for later
    assert answered["0401"] == {
        "till code": "0401",
        "answer": "yes",
        "result": "MARG15: 1 held line(s) applied",
    }
    assert answered["0900"]["result"] == "not a drink: 1 held line(s) set aside, no stock moved"


def test_a_form_nobody_answers_fails_after_the_timeout(tmp_path, sqlite_url):
    store = CellarStore(tmp_path, sqlite_url, links={"timeout": "2s"})
    store.drop("journal-2026-11-27.csv", [line("0401", "CH MARGAUX 15")])
    store.run()

    started = Started(store)
    started.wait_until_paused()
    paused_at = time.monotonic()
    state = started.wait()
    waited = time.monotonic() - paused_at
    assert state.is_failed(), state
    assert 1 <= waited < 7, waited  # the store's 2 s, not Prefect's 10 s polling
    sentence = (
        "nobody answered the form within 2 s; the 1 drink(s) to link stay waiting (answer"
        " them with `stockbridge links` or start this run again)"
    )
    # Prefect's server ends an expired pause with its own message; ours is in the run's
    # summary artifact and in the store's history.
    assert any(sentence in text for text in artifact_data(f"{store.name}-pointex-summary"))
    ledger = store.ledger()
    try:
        run = ledger.history(store.name)[0]  # the links run, after the journal's
        assert (run["state"], run["message"]) == ("failed", sentence)
        assert [w.till_reference for w in Cellar(ledger, store.name).waiting()] == ["0401"]
        assert Cellar(ledger, store.name).links() == {}
    finally:
        ledger.close()
    assert store.stock() == OPENING


def test_form_fields_stay_distinct_for_codes_differing_only_in_punctuation():
    from stockbridge.integrations.pointex.answers import form_fields

    fields = form_fields(["A-1", "A.1", "A_1", "Ü1", "0401"])
    assert len(set(fields.values())) == 5
    assert all(name.isidentifier() and name.isascii() for name in fields.values())
    assert fields["0401"] == "code_0401"
