"""Media files: fetched in two steps from the Cloud API double into media_dir, with retries."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.api.app import create_app
from core.sync.runtime import SyncRuntime
from core.testing import whatsapp as meta
from core.testing.whatsapp_api import CloudApi
from plugins.whatsapp.inbound import interaction_id
from tests.core.api.conftest import TestClient
from tests.plugins.whatsapp.conftest import TOKEN, apply_all, inbox, post, put, record

READER = {"authorization": "Bearer reader-token-0123456789"}
PHOTO = b"\xff\xd8\xff\xe0" + "عکس پلاک".encode() * 500
MEDIA_ID = "1003383421387256"


@pytest.fixture
def setup(
    make_whatsapp: Callable[..., SyncRuntime], api: CloudApi, tmp_path: Path
) -> Iterator[tuple[SyncRuntime, TestClient, Path]]:
    folder = tmp_path / "media"
    runtime = make_whatsapp(graph_url=api.graph_url, access_token=TOKEN, media_dir=str(folder))
    with TestClient(create_app(runtime, background=False)) as client:
        yield runtime, client, folder


def receive_photo(client: TestClient, sha256: str) -> str:
    message = meta.media("989121234567", "image", media_id=MEDIA_ID, sha256=sha256, caption="پلاک")
    assert post(client, meta.envelope(meta.messages_value([message]))).status_code == 200
    return interaction_id(message["id"])


def checksum(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def media_of(runtime: SyncRuntime, record_id: str) -> dict[str, Any]:
    stored = record(runtime, "interaction", record_id)
    assert stored is not None
    return dict(stored["content"]["media"])


def retry_until_settled(runtime: SyncRuntime) -> None:
    for _ in range(40):
        if all(row.state in ("applied", "dead") for row in inbox(runtime)):
            return
        time.sleep(0.03)
        apply_all(runtime)


def test_a_photo_is_stored_after_a_failed_download_and_readers_see_it(
    setup: tuple[SyncRuntime, TestClient, Path], api: CloudApi
) -> None:
    runtime, client, folder = setup
    api.add_media(MEDIA_ID, PHOTO, "image/jpeg", failures=1)
    record_id = receive_photo(client, checksum(PHOTO))
    apply_all(runtime)
    (row,) = inbox(runtime)
    assert row.state == "failed" and "HTTP 500" in row.last_error
    waiting = media_of(runtime, record_id)
    assert waiting["download"] == "pending" and "HTTP 500" in waiting["download_error"]
    assert record(runtime, "interaction", record_id)["text"] == "پلاک"  # type: ignore[index]
    retry_until_settled(runtime)
    stored = media_of(runtime, record_id)
    assert stored["download"] == "stored" and stored["size"] == len(PHOTO)
    assert stored["download_error"] is None
    assert (folder / stored["file"]).read_bytes() == PHOTO
    assert stored["file"].endswith(".jpg") and "/" not in stored["file"]
    answer = client.get(f"/v1/interactions/{record_id}", headers=READER)
    assert answer.status_code == 200
    assert answer.json()["data"]["content"]["media"]["file"] == stored["file"]


def test_bytes_that_do_not_match_the_checksum_are_never_stored(
    setup: tuple[SyncRuntime, TestClient, Path], api: CloudApi
) -> None:
    runtime, client, folder = setup
    api.add_media(MEDIA_ID, PHOTO, "image/jpeg")
    record_id = receive_photo(client, checksum(b"another file"))
    retry_until_settled(runtime)
    (row,) = inbox(runtime)
    assert row.state == "dead" and "do not match" in row.last_error
    assert media_of(runtime, record_id)["download"] == "pending"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_media_meta_no_longer_has_is_failed_at_once(
    setup: tuple[SyncRuntime, TestClient, Path], api: CloudApi
) -> None:
    runtime, client, _ = setup
    record_id = receive_photo(client, checksum(PHOTO))
    apply_all(runtime)
    (row,) = inbox(runtime)
    assert row.state == "dead" and "no longer has media" in row.last_error
    failed = media_of(runtime, record_id)
    assert failed["download"] == "failed" and "no longer has media" in failed["download_error"]


def test_readers_get_a_stored_file_with_its_type_and_nothing_before_or_outside_it(
    setup: tuple[SyncRuntime, TestClient, Path], api: CloudApi
) -> None:
    runtime, client, folder = setup
    api.add_media(MEDIA_ID, PHOTO, "image/jpeg", failures=1)
    record_id = receive_photo(client, checksum(PHOTO))
    apply_all(runtime)
    url = f"/v1/interactions/{record_id}/media"
    not_yet = client.get(url, headers=READER)
    assert not_yet.status_code == 404 and "not-found" in not_yet.json()["type"]
    retry_until_settled(runtime)
    assert client.get(url).status_code == 401
    answer = client.get(url, headers=READER)
    assert answer.status_code == 200 and answer.content == PHOTO
    assert answer.headers["content-type"] == "image/jpeg"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert client.get("/v1/interactions/nobody/media", headers=READER).status_code == 404

    # A record whose file name was changed to leave the folder is refused, never read.
    secret = folder.parent / "secret.txt"
    secret.write_text("not media")
    for hostile in ("../secret.txt", "/etc/passwd", "..", "a/../../secret.txt"):
        stored = record(runtime, "interaction", record_id)
        assert stored is not None
        stored["content"]["media"]["file"] = hostile
        put(runtime, "interaction", record_id, stored)
        refused = client.get(url, headers=READER)
        assert refused.status_code == 404, hostile
        assert b"not media" not in refused.content
