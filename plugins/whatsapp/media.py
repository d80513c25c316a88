"""Media files of inbound messages, fetched through the Cloud API's two steps into ``media_dir``.

``GET {graph_url}/{media-id}`` (bearer token) answers a URL that expires after about
five minutes, then ``GET`` that URL (bearer token again) gives the bytes. Their SHA-256
is checked against the message's ``sha256`` (base64) when it has one. The file is kept
as ``<interaction id>-<media id><extension>`` and the interaction's ``content.media``
says ``download: stored`` with the file name and size, which API readers see.

It runs inside the inbound job: a failure raises TransientError, so the job tries again
with backoff (a fresh URL each time) and, once the attempts run out, keeps the event as
failed with the reason; ``download_error`` on the interaction says what went wrong
meanwhile. A media id Meta no longer knows (it keeps media 30 days) marks the download
``failed`` at once.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import os
import re
from pathlib import Path
from typing import Any

import httpx

from core.errors import PermanentError, TransientError
from plugins.whatsapp.settings import WhatsAppSettings

_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def file_name(record_id: str, media_id: str, mime_type: str | None) -> str:
    """The stored file's name: only letters, digits, ``-`` and ``_`` besides the extension."""
    extension = mimetypes.guess_extension((mime_type or "").split(";")[0].strip()) or ".bin"
    return f"{_SAFE.sub('_', record_id)}-{_SAFE.sub('_', media_id)}{extension}"


def fetch(http: httpx.Client, settings: WhatsAppSettings, media_id: str) -> bytes:
    """The bytes of one media id through the two-step API; Transient/PermanentError otherwise."""
    assert settings.access_token is not None
    headers = {"authorization": f"Bearer {settings.access_token.get_secret_value()}"}
    try:
        info = http.get(f"{settings.graph_url}/{media_id}", headers=headers)
        if info.status_code in (400, 404):
            raise PermanentError(f"Meta no longer has media {media_id} (HTTP {info.status_code})")
        if info.status_code != 200:
            raise TransientError(f"the media URL request answered HTTP {info.status_code}")
        url = info.json().get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise TransientError("the media URL answer holds no URL")
        answer = http.get(url, headers=headers)
    except httpx.HTTPError as error:
        raise TransientError(f"media download failed: {type(error).__name__}: {error}") from None
    except ValueError:
        raise TransientError("the media URL answer is not JSON") from None
    if answer.status_code != 200:
        raise TransientError(f"the media download answered HTTP {answer.status_code}")
    return answer.content


def store(
    http: httpx.Client, settings: WhatsAppSettings, record_id: str, media: dict[str, Any]
) -> dict[str, Any]:
    """Download one file into ``media_dir``; the ``content.media`` changes to keep."""
    assert settings.media_dir is not None
    media_id = str(media["id"])
    data = fetch(http, settings, media_id)
    expected = media.get("sha256")
    if expected:
        actual = base64.b64encode(hashlib.sha256(data).digest()).decode()
        if actual != expected and hashlib.sha256(data).hexdigest() != expected:
            raise TransientError(f"media {media_id}: the bytes do not match the message's sha256")
    folder = Path(settings.media_dir)
    folder.mkdir(parents=True, exist_ok=True)
    name = file_name(record_id, media_id, media.get("mime_type"))
    partial = folder / f".{name}.part"
    partial.write_bytes(data)
    os.replace(partial, folder / name)
    return {"download": "stored", "file": name, "size": len(data), "download_error": None}


__all__ = ["fetch", "file_name", "store"]
