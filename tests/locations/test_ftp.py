"""FTP against a real pyftpdlib server: the Location contract plus connection failures."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stockbridge.config.locations import LocationConfig
from stockbridge.errors import LocationError
from stockbridge.locations import open_file, open_folder
from stockbridge.locations.ftp import FTPLocation
from tests.locations.test_local import DirectoryBackend, LocationContract
from tests.servers import FTPTestServer, free_port, running_ftp_server

pytestmark = pytest.mark.timeout(30)


def ftp_backend(server: FTPTestServer) -> DirectoryBackend:
    return DirectoryBackend(server.root, lambda folder: open_folder(server.config(folder)))


@pytest.fixture
def backend(ftp_server: FTPTestServer) -> DirectoryBackend:
    return ftp_backend(ftp_server)


class TestFTPContract(LocationContract):
    pass


class TestFTPWithoutMLSDContract(LocationContract):
    """Servers like vsftpd have no MLSD: LIST for names, MDTM for times."""

    @pytest.fixture
    def backend(self, tmp_path: Path):
        with running_ftp_server(tmp_path / "home", mlsd=False) as server:
            yield ftp_backend(server)


class TestFTPRefusingOverwriteContract(LocationContract):
    """Servers that refuse RNTO onto an existing file get the target deleted first."""

    @pytest.fixture
    def backend(self, tmp_path: Path):
        with running_ftp_server(tmp_path / "home", rename_over_existing=False) as server:
            yield ftp_backend(server)


def test_open_folder_gives_ftp_location(ftp_server: FTPTestServer) -> None:
    location = open_folder(ftp_server.config("inbox/"))
    assert isinstance(location, FTPLocation)
    assert location.root == "/inbox"
    assert location.display == f"ftp://127.0.0.1:{ftp_server.port}/inbox/"
    assert ftp_server.password not in repr(location.__dict__)


def test_mtime_is_utc_whole_seconds(ftp_server: FTPTestServer) -> None:
    moment = 1_700_000_000.75
    ftp_backend(ftp_server).put("inbox", "stock.csv", b"x", mtime=moment)
    (stock,) = open_folder(ftp_server.config("inbox")).list_files()
    assert stock.modified is not None
    assert stock.modified.timestamp() == int(moment)


@pytest.mark.parametrize("reply_421", [False, True], ids=["eof", "421-idle-timeout"])
def test_dropped_connection_reconnects_during_listing(
    ftp_server: FTPTestServer, reply_421: bool
) -> None:
    backend = ftp_backend(ftp_server)
    backend.put("inbox", "stock.csv", b"x")
    location = open_folder(ftp_server.config("inbox"))
    assert [f.name for f in location.list_files()] == ["stock.csv"]

    ftp_server.drop_all_connections(reply_421=reply_421)
    assert [f.name for f in location.list_files()] == ["stock.csv"]

    ftp_server.drop_all_connections(reply_421=reply_421)
    assert location.exists("stock.csv")
    ftp_server.drop_all_connections(reply_421=reply_421)
    assert location.read_bytes("stock.csv") == b"x"
    ftp_server.drop_all_connections(reply_421=reply_421)
    location.write_atomic("out.csv", b"y")
    assert backend.read("inbox", "out.csv") == b"y"


@pytest.mark.parametrize("reply_421", [False, True], ids=["eof", "421-idle-timeout"])
def test_dropped_connection_on_empty_folder_is_never_an_empty_listing(
    tmp_path: Path, reply_421: bool
) -> None:
    """The dangerous case: a dead connection must not look like "no new files"."""
    with running_ftp_server(tmp_path / "home") as server:
        ftp_backend(server).make_folder("inbox")
        location = open_folder(server.config("inbox"))
        missing = open_folder(server.config("not-there"))
        assert location.list_files() == []
        server.drop_all_connections(reply_421=reply_421)
        server.stop()  # and it does not come back

        for folder in (location, missing):
            with pytest.raises(LocationError) as caught:
                folder.list_files()
            message = str(caught.value)
            assert folder.display in message
            assert server.password not in message
            with pytest.raises(LocationError):
                folder.exists("stock.csv")


def test_connection_dropping_again_after_reconnect_is_an_error(tmp_path: Path) -> None:
    with running_ftp_server(tmp_path / "home") as server:
        location = open_folder(server.config("inbox"))
        server.drop_all_connections()
        server.stop()
        with pytest.raises(LocationError, match="reconnecting failed"):
            location.list_files()
        # Still an error (not an AttributeError on a closed socket) on the next call.
        with pytest.raises(LocationError):
            location.read_bytes("stock.csv")


def test_server_down_is_a_location_error_naming_the_server() -> None:
    config = LocationConfig(
        url=f"ftp://127.0.0.1:{free_port()}/inbox/", username="till", password="hunter2-secret"
    )
    started = time.monotonic()
    with pytest.raises(LocationError) as caught:
        open_folder(config)
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert config.display in message
    assert "hunter2-secret" not in message
    assert "till" not in message
    assert "\n" not in message


def test_wrong_password_is_a_location_error(ftp_server: FTPTestServer) -> None:
    config = ftp_server.config("inbox", password="wrong-password-123")
    with pytest.raises(LocationError) as caught:
        open_folder(config)
    message = str(caught.value)
    assert config.display in message
    assert "530" in message
    assert "wrong-password-123" not in message


def test_write_atomic_leaves_no_temp_file_when_rename_fails(ftp_server: FTPTestServer) -> None:
    # A folder where the file should go makes RNTO fail on every server.
    ftp_backend(ftp_server).make_folder("outbox/export.csv")
    location = open_folder(ftp_server.config("outbox"))
    with pytest.raises(LocationError) as caught:
        location.write_atomic("export.csv", b"data")
    assert location.display in str(caught.value)
    assert ftp_backend(ftp_server).names("outbox") == set()


def test_move_to_another_backend(ftp_server: FTPTestServer, tmp_path: Path) -> None:
    ftp_backend(ftp_server).put("inbox", "stock.csv", b"payload")
    inbox = open_folder(ftp_server.config("inbox"))
    local = open_folder(LocationConfig(url=str(tmp_path / "archive")))

    inbox.move_to("stock.csv", local, "stock.csv")
    assert (tmp_path / "archive" / "stock.csv").read_bytes() == b"payload"
    assert inbox.list_files() == []
    inbox.move_to("stock.csv", local, "stock.csv")  # repeat: already done


def test_move_between_two_connections_to_the_same_server(ftp_server: FTPTestServer) -> None:
    ftp_backend(ftp_server).put("inbox", "stock.csv", b"payload")
    inbox = open_folder(ftp_server.config("inbox"))
    done = open_folder(ftp_server.config("done/2024"))
    inbox.move_to("stock.csv", done, "stock.csv")
    assert ftp_backend(ftp_server).read("done/2024", "stock.csv") == b"payload"


def test_open_file_on_ftp(ftp_server: FTPTestServer) -> None:
    ftp_backend(ftp_server).put("exports", "stock.csv", b"x;y")
    folder, name = open_file(ftp_server.config("exports/stock.csv"))
    assert name == "stock.csv"
    assert folder.read_bytes(name) == b"x;y"


def test_each_location_has_its_own_connection(ftp_server: FTPTestServer) -> None:
    first = open_folder(ftp_server.config("inbox"))
    second = open_folder(ftp_server.config("inbox"))
    assert first.fs is not second.fs
    assert first.child("archive").fs is first.fs


@pytest.mark.parametrize("mlsd", [True, False], ids=["mlsd", "list"])
def test_empty_listing_is_checked_on_the_connection(tmp_path: Path, mlsd: bool) -> None:
    """An empty answer from a session that then turns out dead is retried, not believed."""
    with running_ftp_server(tmp_path / "home", mlsd=mlsd) as server:
        ftp_backend(server).put("inbox", "stock.csv", b"x")
        location = open_folder(server.config("inbox"))
        server.expire_session_after_next_listing()
        assert [f.name for f in location.list_files()] == ["stock.csv"]
