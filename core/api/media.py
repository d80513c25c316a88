"""``GET /v1/interactions/{id}/media``: the downloaded media file of a message, for readers.

The file lives in the media folder of the plugin named by the interaction's channel
(its ``media_dir`` setting, such as WhatsApp's). Only a file the message says is
``stored`` is served, under the name kept on the record, which must be a bare file name
inside that folder: anything else (a path, ``..``) is refused as not found, never read.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse

from core.api.auth import require
from core.api.problems import Problem
from core.api.records import RecordIdPath, runtime_of
from core.kinds import kind_by_type
from core.schemas.activities import Interaction
from core.store import get_record

router = APIRouter(prefix="/v1/interactions", tags=["interactions"])

#: A stored file's name: letters, digits, ``-`` and ``_``, then one extension.
SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9]{1,16})?$")
#: A mime type as ``type/subtype`` with no parameters; others are sent as bytes.
MIME = re.compile(r"^[a-z]+/[a-z0-9.+-]+$")
BYTES = "application/octet-stream"


@router.get(
    "/{record_id}/media",
    summary="The downloaded media file of a message",
    response_class=FileResponse,
    responses={404: {"description": "No such message, or its file is not downloaded yet"}},
)
def interaction_media(
    request: Request, record_id: RecordIdPath, _: object = Depends(require("reader"))
) -> FileResponse:
    """The file's bytes with the message's mime type; 404 until it is downloaded."""
    runtime = runtime_of(request)
    stored = get_record(runtime.engine, kind_by_type("interaction"), record_id)
    message = stored.model() if stored is not None else None
    if not isinstance(message, Interaction):
        raise Problem(404, "not-found", f"there is no interaction with id {record_id!r}")
    media = message.content.media if message.content is not None else None
    if media is None or media.download != "stored" or not media.file:
        raise Problem(404, "not-found", "the message has no downloaded media file (yet)")
    folder = _folder(request, message.channel)
    name = str(media.file)
    if folder is None or not SAFE_NAME.match(name):
        raise Problem(404, "not-found", "the message's media file is not in a media folder")
    path = (folder / name).resolve()
    if path.parent != folder.resolve() or not path.is_file():
        raise Problem(404, "not-found", "the message's media file is not in its media folder")
    mime = (media.mime_type or "").split(";")[0].strip().lower()
    return FileResponse(
        path,
        media_type=mime if MIME.match(mime) else BYTES,
        headers={"x-content-type-options": "nosniff"},
    )


def _folder(request: Request, channel: str) -> Path | None:
    """The ``media_dir`` of the plugin named ``channel``, if it is loaded and has one."""
    host = runtime_of(request).host
    if channel not in host.names():
        return None
    folder = getattr(host.context(channel).settings, "media_dir", None)
    return Path(folder) if folder is not None else None
