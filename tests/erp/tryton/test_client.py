"""The Tryton JSON-RPC client: value encoding, error mapping and sessions.

The first half answers with ``httpx.MockTransport`` to pin exact shapes; the second
half runs against a real trytond (see core.testing.tryton).
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from core.errors import PermanentError, TransientError
from core.testing.tryton import TrytonServer
from erp.tryton.client import TrytonClient, TrytonSettings, decode, encode

Handler = Callable[[dict[str, Any]], httpx.Response]


def _result(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"id": 1, "result": value}, headers=headers)


def scripted(answers: dict[str, Handler], seen: list[dict[str, Any]]) -> httpx.MockTransport:
    """Answer each JSON-RPC method with its handler and record every request."""

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        body["authorization"] = request.headers.get("authorization")
        seen.append(body)
        return answers[body["method"]](body)

    return httpx.MockTransport(handle)


def login_answers(**more: Handler) -> dict[str, Handler]:
    return {
        "common.db.login": lambda body: _result([7, "token", None]),
        "model.res.user.get_preferences": lambda body: _result({"company": 1, "language": "en"}),
        **more,
    }


def make_client(transport: httpx.MockTransport) -> TrytonClient:
    http = httpx.Client(transport=transport)
    return TrytonClient(
        http, url="http://erp:8000/", database="erp", username="sync", password="pw"
    )


def test_values_round_trip_through_tryton_json() -> None:
    values = {
        "amount": Decimal("1250000.50"),
        "day": dt.date(2026, 3, 21),
        "at": dt.datetime(2026, 3, 21, 9, 30, 5, 12),
        "blob": b"\x00\xff",
        "gap": dt.timedelta(hours=2),
        "list": [Decimal("1"), ("a", 2)],
    }
    wire = json.dumps(encode(values))
    assert json.loads(wire)["amount"] == {"__class__": "Decimal", "decimal": "1250000.50"}
    assert json.loads(wire)["day"] == {"__class__": "date", "year": 2026, "month": 3, "day": 21}
    back = decode(wire)
    assert back == {**values, "list": [Decimal("1"), ["a", 2]]}


def test_login_sends_session_header_and_context_last() -> None:
    seen: list[dict[str, Any]] = []
    answers = login_answers(**{"model.party.party.search": lambda body: _result([3, 4])})
    client = make_client(scripted(answers, seen))

    assert client.search("party.party", [("name", "=", "Ali")], limit=5) == [3, 4]

    login, preferences, search = seen
    assert login["params"] == ["sync", {"password": "pw"}, "en"]
    assert login["authorization"] is None
    assert preferences["params"] == [True, {}]
    assert search["authorization"] == "Session c3luYzo3OnRva2Vu"  # base64("sync:7:token")
    assert search["params"] == [
        [["name", "=", "Ali"]],
        0,
        5,
        None,
        {"company": 1, "language": "en"},
    ]


def test_create_sends_every_record_in_one_call() -> None:
    seen: list[dict[str, Any]] = []
    answers = login_answers(
        **{
            "model.party.party.create": lambda body: _result(
                list(range(1, len(body["params"][0]) + 1))
            )
        }
    )
    client = make_client(scripted(answers, seen))

    ids = client.create("party.party", [{"name": f"p{i}"} for i in range(200)])

    assert ids == list(range(1, 201))
    creates = [body for body in seen if body["method"] == "model.party.party.create"]
    assert len(creates) == 1


def test_expired_session_logs_in_again_once() -> None:
    seen: list[dict[str, Any]] = []
    calls = {"n": 0}

    def read(body: dict[str, Any]) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(401) if calls["n"] == 1 else _result([{"id": 1, "name": "x"}])

    client = make_client(scripted(login_answers(**{"model.party.party.read": read}), seen))

    assert client.read("party.party", [1], ["name"]) == [{"id": 1, "name": "x"}]
    assert [body["method"] for body in seen].count("common.db.login") == 2


@pytest.mark.parametrize(
    ("response", "retry_after"),
    [
        (httpx.Response(503, headers={"Retry-After": "7"}), 7.0),
        (httpx.Response(429, headers={"Retry-After": "30"}), 30.0),
        (httpx.Response(500), None),
        (httpx.Response(504), None),
    ],
)
def test_server_trouble_is_transient(response: httpx.Response, retry_after: float | None) -> None:
    client = make_client(
        scripted(login_answers(**{"model.sale.sale.read": lambda body: response}), [])
    )

    with pytest.raises(TransientError) as caught:
        client.read("sale.sale", [1], ["state"])

    assert caught.value.retry_after == retry_after


def test_timeout_is_transient() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client = make_client(httpx.MockTransport(slow))

    with pytest.raises(TransientError, match="in time"):
        client.login()


def test_a_login_refused_at_the_connection_is_tried_again_in_place() -> None:
    seen: list[dict[str, Any]] = []
    tries = {"login": 0}
    answers = login_answers()

    def flaky(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        if body["method"] == "common.db.login":
            tries["login"] += 1
            if tries["login"] == 1:
                raise httpx.ConnectError("connection refused", request=request)
            if tries["login"] == 2:
                return httpx.Response(502)
        return answers[body["method"]](body)

    client = make_client(httpx.MockTransport(flaky))
    client.login()
    assert tries["login"] == 3
    assert client.context == {"company": 1, "language": "en"}


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (lambda request: (_ for _ in ()).throw(httpx.ReadTimeout("slow", request=request)),
         "in time"),
        (lambda request: httpx.Response(503, headers={"Retry-After": "30"}), "503"),
        (lambda request: httpx.Response(502), "502"),
    ],
    ids=["timeout-once", "long-retry-after-once", "gives-up-after-three"],
)  # fmt: skip
def test_a_login_that_keeps_failing_is_left_to_the_jobs_retry(
    failure: Callable[[httpx.Request], httpx.Response], message: str
) -> None:
    calls: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content)["method"])
        return failure(request)

    client = make_client(httpx.MockTransport(handle))
    with pytest.raises(TransientError, match=message):
        client.login()
    expected = 3 if message == "502" else 1
    assert calls == ["common.db.login"] * expected


def test_user_error_is_permanent_with_trytons_message() -> None:
    error = {"id": 1, "error": ["UserError", ['The value for field "Name" is required.', "", None]]}
    answers = login_answers(
        **{"model.party.party.create": lambda body: httpx.Response(200, json=error)}
    )
    client = make_client(scripted(answers, []))

    with pytest.raises(PermanentError, match='The value for field "Name" is required'):
        client.create("party.party", [{}])


def test_user_warning_is_permanent_with_its_message() -> None:
    error = {"id": 1, "error": ["UserWarning", ["key", "Stock is short.", "Continue?"]]}
    answers = login_answers(
        **{"model.sale.sale.confirm": lambda body: httpx.Response(200, json=error)}
    )
    client = make_client(scripted(answers, []))

    with pytest.raises(PermanentError, match=r"Stock is short\. Continue"):
        client.button("sale.sale", "confirm", [1])


def test_concurrent_change_and_locked_database_are_transient() -> None:
    answers = login_answers(
        **{
            "model.sale.sale.write": lambda body: httpx.Response(
                200, json={"id": 1, "error": ["ConcurrencyException", ["changed"]]}
            ),
            "model.sale.sale.delete": lambda body: httpx.Response(
                200,
                json={"id": 1, "error": ["database is locked", "Traceback ... OperationalError"]},
            ),
        }
    )
    client = make_client(scripted(answers, []))

    with pytest.raises(TransientError):
        client.write("sale.sale", [1], {"comment": "x"})
    with pytest.raises(TransientError):
        client.delete("sale.sale", [1])


def test_settings_build_a_client_and_name_the_fields_in_errors() -> None:
    settings = TrytonSettings(url="http://erp:8000", database="erp", username="sync", password="pw")
    transport = httpx.MockTransport(lambda request: httpx.Response(401))
    client = TrytonClient.from_settings(settings, httpx.Client(transport=transport))

    with pytest.raises(PermanentError, match=r"tryton\.username and tryton\.password"):
        client.login()


# -- against a real trytond ------------------------------------------------------------


def test_real_login_context_and_batch_create(tryton_client: TrytonClient) -> None:
    assert tryton_client.context["company"] == 1

    ids = tryton_client.create("party.party", [{"name": f"Customer {i}"} for i in range(200)])

    assert len(ids) == 200
    rows = tryton_client.read("party.party", ids[:2], ["name"])
    assert [row["name"] for row in rows] == ["Customer 0", "Customer 1"]
    company = tryton_client.read("company.company", [1], ["currency.code"])
    assert company[0]["currency."]["code"] == "IRR"


def test_real_validation_error_is_permanent_with_message(tryton_client: TrytonClient) -> None:
    with pytest.raises(
        PermanentError, match=r'Tryton refused .*A value is required for field "Default UoM"'
    ):
        tryton_client.create("product.template", [{"type": "goods"}])


def test_real_wrong_password_names_the_settings(tryton_server: TrytonServer) -> None:
    with httpx.Client(timeout=30) as http:
        client = TrytonClient(
            http,
            url=tryton_server.url,
            database=tryton_server.database,
            username="admin",
            password="wrong",
        )
        with pytest.raises(PermanentError, match=r"tryton\.password"):
            client.login()


def test_real_unknown_database_names_the_settings(tryton_server: TrytonServer) -> None:
    with httpx.Client(timeout=30) as http:
        client = TrytonClient(
            http, url=tryton_server.url, database="nope", username="admin", password="admin"
        )
        with pytest.raises(PermanentError, match=r"tryton\.database"):
            client.login()


def test_real_expired_session_is_renewed(tryton_server: TrytonServer) -> None:
    with httpx.Client(timeout=30) as http:
        client = tryton_server.client(http)
        client.login()
        other = tryton_server.client(http)
        other.login()
        # Tryton drops a session on logout: the first client's token is now as good as expired.
        stale = client._authorization
        client.logout()
        client._authorization = stale

        assert client.search("party.party", [], limit=1)
        assert client._authorization != stale


def test_server_that_is_down_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with httpx.Client(timeout=2) as http:
        client = TrytonClient(
            http, url=f"http://127.0.0.1:{port}", database="erp", username="admin", password="admin"
        )
        with pytest.raises(TransientError, match="cannot reach Tryton"):
            client.login()
