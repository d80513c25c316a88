"""Inbound messages on the timeline: each documented type, matched by E.164, new leads."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.db.inbound_tables import InboxEvent
from core.sync.runtime import SyncRuntime
from core.testing import whatsapp as meta
from lead_scoring.assignment.tables import LeadAssignment
from plugins.whatsapp.inbound import interaction_id
from tests.core.api.conftest import TestClient
from tests.plugins.whatsapp.conftest import IRAN, all_of, apply_all, drain, inbox, post, put, record

US = "16505551234"


def whatsapp_messages(runtime: SyncRuntime) -> list[dict[str, Any]]:
    """The WhatsApp interactions stored, in the order of their time."""
    found = [
        item for item in all_of(runtime, "interaction").values() if item["channel"] == "whatsapp"
    ]
    return sorted(found, key=lambda item: item["occurred_at"])


def receive(
    client: TestClient, runtime: SyncRuntime, *messages: dict[str, Any], **names: str | None
) -> None:
    """Post messages as Meta does, then run the inbound job."""
    answer = post(client, meta.envelope(meta.messages_value(list(messages), names=names or None)))
    assert answer.status_code == 200, answer.text
    apply_all(runtime)


def customer(runtime: SyncRuntime, customer_id: str, *phones: str) -> None:
    put(
        runtime,
        "customer",
        customer_id,
        {"type": "person", "name": f"مشتری {customer_id}", "phones": list(phones)},
    )


def test_every_documented_message_type_is_kept_on_the_customer_s_timeline(
    client: TestClient, runtime: SyncRuntime
) -> None:
    customer(runtime, "C-1", "0912 123 4567")
    sent = meta.wamid("ours")
    at = 1_780_000_000
    messages = [
        meta.text(IRAN, "سلام، قیمت پمپ؟", timestamp=at),
        meta.media(IRAN, "image", caption="عکس پلاک", timestamp=at + 1),
        meta.media(
            IRAN,
            "document",
            mime_type="application/pdf",
            filename="فاکتور.pdf",
            caption="فاکتور",
            timestamp=at + 2,
        ),
        meta.media(IRAN, "audio", mime_type="audio/ogg; codecs=opus", voice=True, timestamp=at + 3),
        meta.media(IRAN, "video", mime_type="video/mp4", timestamp=at + 4),
        meta.media(IRAN, "sticker", mime_type="image/webp", timestamp=at + 5),
        meta.location(IRAN, timestamp=at + 6),
        meta.contacts(IRAN, timestamp=at + 7),
        meta.button_reply(IRAN, "confirm", "تایید", reply_to=sent, timestamp=at + 8),
        meta.list_reply(
            IRAN, "pump-2", "پمپ ۲ اینچ", "تحویل یک هفته", reply_to=sent, timestamp=at + 9
        ),
        meta.template_button(IRAN, "STOP", "لغو", reply_to=sent, timestamp=at + 10),
        meta.reaction(IRAN, sent, "👍", timestamp=at + 11),
        meta.reaction(IRAN, sent, None, timestamp=at + 12),
        meta.text(IRAN, "این هم جواب", reply_to=sent, timestamp=at + 13),
        meta.unsupported(IRAN, timestamp=at + 14),
        {
            **meta.text(IRAN, "x", timestamp=at + 15),
            "type": "order",
            "order": {"catalog_id": "7", "product_items": []},
        },
    ]
    receive(client, runtime, *messages)
    stored = whatsapp_messages(runtime)
    assert len(stored) == len(messages)
    assert {item["customer_id"] for item in stored} == {"C-1"}
    assert {item["direction"] for item in stored} == {"inbound"}
    assert [item["external_message_id"] for item in stored] == [m["id"] for m in messages]
    by_type = [item["content"]["type"] for item in stored]
    assert by_type == [m["type"] for m in messages]
    (
        text,
        image,
        document,
        audio,
        video,
        sticker,
        place,
        card,
        button,
        row,
        quick,
        like,
        unlike,
        reply,
        odd,
        order,
    ) = stored
    assert text["text"] == "سلام، قیمت پمپ؟" and text["content"]["sender"] == "+989121234567"
    assert image["text"] == "عکس پلاک"
    assert image["content"]["media"]["sha256"] == "McGdaH1HtQN6zQBNfv8HiSvSyZ7SuIlfw1YQ5E6AyjU="
    assert image["content"]["media"]["download"] == "pending"
    assert document["content"]["media"]["filename"] == "فاکتور.pdf"
    assert document["content"]["media"]["mime_type"] == "application/pdf"
    assert audio["content"]["media"]["voice"] is True
    assert video["content"]["media"]["id"] == "1003383421387256"
    assert sticker["content"]["media"]["animated"] is False
    assert (
        place["content"]["location"]["latitude"] == 35.6997
        and place["text"] == "میدان آزادی - تهران"
    )
    assert card["content"]["contacts"] == [
        {"name": "Barbara J. Johnson", "phones": ["+1 (940) 555-1234"]}
    ]
    assert button["content"]["choice"] == {
        "kind": "button_reply",
        "id": "confirm",
        "title": "تایید",
        "description": None,
        "payload": None,
    }
    assert button["reply_to"] == sent
    assert (
        row["content"]["choice"]["description"] == "تحویل یک هفته" and row["text"] == "پمپ ۲ اینچ"
    )
    assert quick["content"]["choice"]["payload"] == "STOP" and quick["text"] == "لغو"
    assert like["content"]["reaction"] == {"message_id": sent, "emoji": "👍", "removed": False}
    assert unlike["content"]["reaction"] == {"message_id": sent, "emoji": None, "removed": True}
    assert reply["reply_to"] == sent and reply["text"] == "این هم جواب"
    assert odd["delivery_errors"][0]["code"] == 131051
    assert odd["delivery_errors"][0]["title"] == "Message type unknown"
    assert '"poll_creation"' in odd["content"]["raw"]
    assert '"catalog_id": "7"' in order["content"]["raw"]
    assert all_of(runtime, "lead") == {}


def test_the_sender_is_matched_by_plus_and_digits_never_as_an_iranian_number(
    client: TestClient, runtime: SyncRuntime
) -> None:
    customer(runtime, "C-us", "+1 650 555 1234")
    customer(runtime, "C-ir", "09121234567")
    receive(client, runtime, meta.text(US, "hi from California"), meta.text(IRAN, "سلام از تهران"))
    owners = {item["text"]: item["customer_id"] for item in whatsapp_messages(runtime)}
    assert owners == {"hi from California": "C-us", "سلام از تهران": "C-ir"}
    assert all_of(runtime, "lead") == {}


def test_an_unknown_number_becomes_an_assigned_lead_whose_clock_stops_at_our_reply(
    client: TestClient, runtime: SyncRuntime
) -> None:
    put(runtime, "agent", "A-1", {"name": "کارشناس یک", "team": "sales", "email": "a1@example.ir"})
    receive(
        client, runtime, meta.text("989351112233", "قیمت دارید؟"), **{"989351112233": "رضا کریمی"}
    )
    leads = all_of(runtime, "lead")
    assert list(leads) == ["whatsapp-989351112233"]
    lead = leads["whatsapp-989351112233"]
    assert lead["source"] == "whatsapp" and lead["phones"] == ["+989351112233"]
    assert lead["contact_name"] == "رضا کریمی"
    (message,) = whatsapp_messages(runtime)
    assert message["lead_id"] == "whatsapp-989351112233" and message.get("customer_id") is None
    drain(runtime)
    assert record(runtime, "lead", "whatsapp-989351112233")["owner_id"] == "A-1"  # type: ignore[index]
    assignment = _assignment(runtime, "whatsapp-989351112233")
    assert assignment.first_response_due_at is not None and assignment.first_response_at is None
    receive(client, runtime, meta.text("989351112233", "سلام؟ کسی هست؟"))
    drain(runtime)
    assert _assignment(runtime, "whatsapp-989351112233").first_response_at is None
    put(
        runtime,
        "interaction",
        "reply-1",
        {
            "lead_id": "whatsapp-989351112233",
            "channel": "whatsapp",
            "direction": "outbound",
            "occurred_at": "2030-01-01T09:00:00+03:30",
            "text": "سلام، بله در خدمتیم",
        },
    )
    drain(runtime)
    assert _assignment(runtime, "whatsapp-989351112233").first_response_at is not None
    assert list(all_of(runtime, "lead")) == ["whatsapp-989351112233"]
    assert len(whatsapp_messages(runtime)) == 3


def _assignment(runtime: SyncRuntime, lead_id: str) -> Any:
    with runtime.engine.connect() as connection:
        return connection.execute(
            select(LeadAssignment).where(LeadAssignment.lead_id == lead_id)
        ).one()


def test_a_reply_from_an_existing_lead_s_number_lands_on_that_lead(
    client: TestClient, runtime: SyncRuntime
) -> None:
    put(
        runtime,
        "lead",
        "L-7",
        {"contact_name": "مینا", "phones": ["۰۹۱۲ ۱۲۳ ۴۵۶۷"], "source": "website"},
    )
    receive(client, runtime, meta.text(IRAN, "من از سایت پیام دادم"))
    (message,) = whatsapp_messages(runtime)
    assert message["lead_id"] == "L-7"
    assert list(all_of(runtime, "lead")) == ["L-7"]


def test_a_number_without_a_profile_name_or_outside_any_numbering_plan_still_gets_a_lead(
    client: TestClient, runtime: SyncRuntime
) -> None:
    receive(client, runtime, meta.text("15551234567", "hello"), **{"15551234567": None})
    lead = record(runtime, "lead", "whatsapp-15551234567")
    assert lead is not None and lead["phones"] == [] and lead["contact_name"] == "+15551234567"
    receive(client, runtime, meta.text("15551234567", "again"))
    assert {item["lead_id"] for item in whatsapp_messages(runtime)} == {"whatsapp-15551234567"}


def test_a_message_repeated_by_meta_or_applied_twice_is_one_interaction(
    client: TestClient, runtime: SyncRuntime
) -> None:
    customer(runtime, "C-1", "09121234567")
    message = meta.text(IRAN, "یک بار")
    receive(client, runtime, message)
    receive(client, runtime, message)
    rows = inbox(runtime)
    assert len(rows) == 1
    runtime.inbound.process("whatsapp", [rows[0].id])
    with runtime.engine.begin() as connection:
        connection.execute(InboxEvent.__table__.update().values(state="pending"))
    apply_all(runtime)
    assert [item["external_message_id"] for item in whatsapp_messages(runtime)] == [message["id"]]
    assert record(runtime, "interaction", interaction_id(message["id"])) is not None


def test_a_message_that_cannot_be_applied_is_kept_failed_with_the_reason(
    client: TestClient, runtime: SyncRuntime
) -> None:
    bad = {**meta.text("not-digits", "?"), "from": "not-digits"}
    good = meta.text(IRAN, "خوب")
    receive(client, runtime, bad, good)
    rows = {row.event_id: row for row in inbox(runtime)}
    failed = rows[f"message:{bad['id']}"]
    assert failed.state == "dead" and "not a WhatsApp id" in (failed.last_error or "")
    assert rows[f"message:{good['id']}"].state == "applied"
