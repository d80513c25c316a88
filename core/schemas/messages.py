"""What a message held beyond its text, for channels that carry more (WhatsApp first).

An Interaction's ``content``: the message type as the channel names it, and one typed
part for what it carried (a media file, a location, shared contacts, a button or list
choice, a reaction, the template an outbound message asks for). A type no part
describes is kept whole as JSON text in ``raw``, so nothing a channel sent is dropped.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.schemas.base import ExternalId
from core.schemas.fields import LongText, ShortText

#: A link or a path as text: at most 2000 characters.
Link = Annotated[str, Field(min_length=1, max_length=2000)]
#: Where a media file's download stands (``stored``: in the media folder, readable).
DownloadState = Literal["pending", "stored", "failed"]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MediaFile(_Part):
    """An image, video, audio or voice note, document or sticker.

    ``id`` is the channel's media id (the file is fetched with it), ``sha256`` the
    channel's checksum (base64 for WhatsApp); ``download`` says whether the file was
    stored, ``file`` its name in the channel's media folder, ``size`` its length in bytes
    and ``download_error`` why it could not be (yet).
    """

    id: ExternalId | None = None
    mime_type: ShortText | None = None
    sha256: ShortText | None = None
    caption: LongText | None = None
    filename: ShortText | None = None
    voice: bool | None = None
    animated: bool | None = None
    url: Link | None = None
    download: DownloadState | None = None
    file: Link | None = None
    size: int | None = Field(default=None, ge=0, le=2**53)
    download_error: LongText | None = None


class Location(_Part):
    """A place: coordinates, and the name and address when one was chosen."""

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    name: ShortText | None = None
    address: LongText | None = None
    url: Link | None = None


class SharedContact(_Part):
    """A contact card sent in a message: the name shown and its phone numbers."""

    name: ShortText | None = None
    phones: list[ShortText] = Field(default_factory=list, max_length=20)


class Choice(_Part):
    """A tapped reply button, a chosen list row or a template quick-reply button.

    ``kind`` is ``button_reply``, ``list_reply`` or ``button``; ``id`` or ``payload`` is
    what we gave the option when we sent it, ``title`` what the customer saw.
    """

    kind: ShortText
    id: ExternalId | None = None
    title: ShortText | None = None
    description: LongText | None = None
    payload: LongText | None = None


class Reaction(_Part):
    """An emoji reaction to ``message_id``; ``removed`` when the customer took it back."""

    message_id: ExternalId | None = None
    emoji: ShortText | None = None
    removed: bool = False


class TemplateComponent(_Part):
    """The parameters of one component of a template: its header, body or a button."""

    type: Literal["header", "body", "button"]
    index: int | None = Field(default=None, ge=0, le=9, description="A button's position")
    sub_type: Literal["quick_reply", "url"] | None = None
    parameters: list[LongText] = Field(default_factory=list, max_length=20)


class Template(_Part):
    """An approved message template by name and language (``fa``, ``en_US``), with parameters."""

    name: Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")]
    language: Annotated[str, Field(min_length=2, max_length=16, pattern=r"^[A-Za-z_]+$")]
    components: list[TemplateComponent] = Field(default_factory=list, max_length=10)


class MessageContent(_Part):
    """What a message carried: its channel ``type`` and the part that describes it."""

    type: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z_]+$")]
    sender: ShortText | None = Field(default=None, description="The sender's key (E.164)")
    media: MediaFile | None = None
    location: Location | None = None
    contacts: list[SharedContact] = Field(default_factory=list, max_length=50)
    choice: Choice | None = None
    reaction: Reaction | None = None
    template: Template | None = None
    raw: LongText | None = Field(
        default=None, description="A type no part describes, as the channel's JSON text"
    )


__all__ = [
    "Choice",
    "DownloadState",
    "Location",
    "MediaFile",
    "MessageContent",
    "Reaction",
    "SharedContact",
    "Template",
    "TemplateComponent",
]
