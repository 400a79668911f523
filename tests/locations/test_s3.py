"""S3 against a real (moto) S3 endpoint on 127.0.0.1: the contract plus caching and failures."""

from __future__ import annotations

import time

import pytest

from stockbridge.config.locations import LocationConfig
from stockbridge.errors import LocationError
from stockbridge.locations import Location, open_file, open_folder
from stockbridge.locations.s3 import S3Location
from tests.locations.test_local import LocationContract
from tests.servers import S3TestServer, free_port

pytestmark = pytest.mark.timeout(60)


class BucketBackend:
    """The bucket as another program (boto3) sees it."""

    can_set_mtime = False  # S3 sets LastModified itself

    def __init__(self, server: S3TestServer):
        self.server = server
        self.client = server.client
        self.bucket = server.bucket

    def open(self, folder: str) -> Location:
        return open_folder(self.server.config(folder))

    def put(self, folder: str, name: str, data: bytes, mtime: float | None = None) -> None:
        self.client.put_object(Bucket=self.bucket, Key=f"{folder}/{name}", Body=data)

    def make_folder(self, folder: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=f"{folder}/", Body=b"")

    def names(self, folder: str) -> set[str]:
        answer = self.client.list_objects_v2(Bucket=self.bucket, Prefix=f"{folder}/", Delimiter="/")
        keys = (item["Key"] for item in answer.get("Contents", []))
        return {key.rsplit("/", 1)[1] for key in keys if not key.endswith("/")}

    def read(self, folder: str, name: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=f"{folder}/{name}")["Body"].read()


@pytest.fixture
def backend(s3_server: S3TestServer) -> BucketBackend:
    return BucketBackend(s3_server)


class TestS3Contract(LocationContract):
    pass


def test_open_folder_gives_s3_location(s3_server: S3TestServer) -> None:
    location = open_folder(s3_server.config("inbox/"))
    assert isinstance(location, S3Location)
    assert location.root == "stock/inbox"
    assert location.display == "s3://stock/inbox/"
    assert not location.fs.anon


def test_listing_sees_other_clients_changes_at_once(
    s3_server: S3TestServer, backend: BucketBackend
) -> None:
    location = open_folder(s3_server.config("inbox"))
    assert location.list_files() == []
    assert not location.exists("stock.csv")

    backend.put("inbox", "stock.csv", b"1")
    assert [(f.name, f.size) for f in location.list_files()] == [("stock.csv", 1)]
    assert location.exists("stock.csv")

    backend.put("inbox", "stock.csv", b"1234")
    assert [(f.name, f.size) for f in location.list_files()] == [("stock.csv", 4)]
    assert location.read_bytes("stock.csv") == b"1234"

    s3_server.client.delete_object(Bucket=s3_server.bucket, Key="inbox/stock.csv")
    assert location.list_files() == []
    assert not location.exists("stock.csv")


def test_bucket_root_and_folder_marker_objects(
    s3_server: S3TestServer, backend: BucketBackend
) -> None:
    backend.make_folder("inbox")  # the zero-byte "inbox/" object consoles create
    backend.put("inbox", "stock.csv", b"x")
    s3_server.client.put_object(Bucket=s3_server.bucket, Key="top.csv", Body=b"t")
    assert [f.name for f in open_folder(s3_server.config("inbox")).list_files()] == ["stock.csv"]
    assert [f.name for f in open_folder(s3_server.config("")).list_files()] == ["top.csv"]


def test_missing_bucket_is_an_error_not_an_empty_folder(s3_server: S3TestServer) -> None:
    config = s3_server.config("inbox", url="s3://no-such-bucket/inbox/")
    with pytest.raises(LocationError) as caught:
        open_folder(config).list_files()
    assert config.display in str(caught.value)


def test_endpoint_down_is_a_location_error(s3_server: S3TestServer) -> None:
    config = s3_server.config("inbox", endpoint_url=f"http://127.0.0.1:{free_port()}")
    location = open_folder(config)
    started = time.monotonic()
    with pytest.raises(LocationError) as caught:
        location.list_files()
    assert time.monotonic() - started < 30
    message = str(caught.value)
    assert config.display in message
    assert s3_server.secret not in message
    assert "\n" not in message


def test_move_to_another_backend(s3_server: S3TestServer, backend: BucketBackend, tmp_path) -> None:
    backend.put("inbox", "stock.csv", b"payload")
    inbox = open_folder(s3_server.config("inbox"))
    local = open_folder(LocationConfig(url=str(tmp_path / "archive")))
    inbox.move_to("stock.csv", local, "stock.csv")
    assert (tmp_path / "archive" / "stock.csv").read_bytes() == b"payload"
    assert backend.names("inbox") == set()
    inbox.move_to("stock.csv", local, "stock.csv")  # repeat: already done


def test_open_file_on_s3(s3_server: S3TestServer, backend: BucketBackend) -> None:
    backend.put("exports", "stock.csv", b"x;y")
    folder, name = open_file(s3_server.config("exports/stock.csv"))
    assert name == "stock.csv"
    assert folder.read_bytes(name) == b"x;y"


def test_each_location_has_its_own_filesystem(s3_server: S3TestServer) -> None:
    assert open_folder(s3_server.config("a")).fs is not open_folder(s3_server.config("a")).fs
