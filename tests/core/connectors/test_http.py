"""Classification of HTTP answers and transport failures into transient and permanent errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from core.connectors.http import classify_exception, error_for_response, parse_retry_after
from core.errors import MappingError, PermanentError, TransientError

NOW = datetime(2024, 3, 20, 9, 30, tzinfo=UTC)


def answer(status: int, body: str = "", headers: dict[str, str] | None = None) -> httpx.Response:
    """A response as a real client returns it, from a mock transport."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text=body, headers=headers)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        return client.post("https://erp.example/hooks/crm", json={"id": "C-1"})


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("120", 120.0), (" 7 ", 7.0), ("0", 0.0), (None, None), ("", None), ("soon", None)],
)
def test_retry_after_in_seconds(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


def test_retry_after_as_an_http_date() -> None:
    later = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now=NOW) == 90.0
    earlier = format_datetime(NOW - timedelta(minutes=5), usegmt=True)
    assert parse_retry_after(earlier, now=NOW) == 0.0
    assert parse_retry_after("Wed, 20 Mar 2024 09:31:00", now=NOW) == 60.0


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_success_is_no_error(status: int) -> None:
    assert error_for_response(answer(status)) is None


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 409, 425, 429])
def test_server_errors_and_retryable_4xx_are_transient(status: int) -> None:
    error = error_for_response(answer(status, "try later"))
    assert isinstance(error, TransientError)
    assert str(error) == f"HTTP {status} from erp.example: try later"
    assert error.retry_after is None


def test_retry_after_seconds_are_carried() -> None:
    error = error_for_response(answer(429, headers={"Retry-After": "30"}))
    assert isinstance(error, TransientError)
    assert error.retry_after == 30.0
    assert str(error) == "HTTP 429 from erp.example"


def test_retry_after_dates_are_carried() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=600), usegmt=True)
    error = error_for_response(answer(503, headers={"Retry-After": when}))
    assert isinstance(error, TransientError)
    assert error.retry_after is not None
    assert 590 <= error.retry_after <= 600


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422])
def test_other_4xx_are_permanent_with_the_body(status: int) -> None:
    body = '{"errors": {"economic_code": "کد اقتصادی لازم است"}}'
    error = error_for_response(answer(status, body))
    assert isinstance(error, PermanentError)
    assert not isinstance(error, TransientError)
    assert str(error) == f"HTTP {status} from erp.example: {body}"


def test_the_body_excerpt_is_cut_at_500_characters() -> None:
    error = error_for_response(answer(422, "x" * 2000))
    assert error is not None
    assert str(error) == "HTTP 422 from erp.example: " + "x" * 500


def test_a_retry_after_on_a_permanent_answer_is_ignored() -> None:
    error = error_for_response(answer(422, "bad", headers={"Retry-After": "5"}))
    assert isinstance(error, PermanentError)


@pytest.mark.parametrize(
    "exception",
    [
        httpx.ConnectTimeout("connect timed out"),
        httpx.ReadTimeout("read timed out"),
        httpx.WriteTimeout("write timed out"),
        httpx.PoolTimeout("no connection free"),
    ],
)
def test_timeouts_are_transient(exception: httpx.TimeoutException) -> None:
    error = classify_exception(exception)
    assert isinstance(error, TransientError)
    assert str(error) == f"timed out: {type(exception).__name__}"


@pytest.mark.parametrize(
    "exception",
    [
        httpx.ConnectError("connection refused"),
        httpx.RemoteProtocolError("server disconnected"),
        httpx.ReadError("connection reset"),
    ],
)
def test_connection_errors_are_transient(exception: httpx.TransportError) -> None:
    error = classify_exception(exception)
    assert isinstance(error, TransientError)
    assert str(error).startswith(f"connection failed: {type(exception).__name__}: ")


def test_a_refused_connection_is_transient() -> None:
    with httpx.Client() as client, pytest.raises(httpx.ConnectError) as raised:
        client.post("http://127.0.0.1:9/hooks", json={})
    assert isinstance(classify_exception(raised.value), TransientError)


def test_status_errors_are_classified_by_their_response() -> None:
    for status, expected in ((503, TransientError), (422, PermanentError)):
        response = answer(status, "no")
        with pytest.raises(httpx.HTTPStatusError) as raised:
            response.raise_for_status()
        assert type(classify_exception(raised.value)) is expected


def test_sync_errors_pass_through_and_anything_else_is_permanent() -> None:
    transient = TransientError("busy", retry_after=3)
    assert classify_exception(transient) is transient
    mapping = MappingError("no phone")
    assert classify_exception(mapping) is mapping
    error = classify_exception(KeyError("name"))
    assert isinstance(error, PermanentError)
    assert str(error) == "plugin error: KeyError: 'name'"
