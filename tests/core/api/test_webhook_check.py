"""``GET /v1/webhooks/{plugin}``: a target checking the URL, answered by the plugin's hook."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from core import WebhookRejected, hookimpl
from core.api.app import create_app
from core.db.inbound_tables import InboxEvent
from core.settings import Settings
from core.sync.runtime import SyncRuntime
from tests.core.api.conftest import TestClient
from tests.core.inbound_plugin import InboundPlugin


class CheckedPlugin(InboundPlugin):
    """Answers a URL check with the challenge when the token is ``right``."""

    @hookimpl
    def crm_sync_verify_webhook(self, query: Mapping[str, str]) -> str:
        if query.get("token") != "right":
            raise WebhookRejected(403, "wrong token")
        return query.get("challenge", "")


class BrokenCheck(InboundPlugin):
    """Answers a URL check with something that is not text."""

    @hookimpl
    def crm_sync_verify_webhook(self, query: Mapping[str, str]) -> str:
        return 42  # type: ignore[return-value]


def _client(
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    plugins: dict[str, object],
) -> tuple[SyncRuntime, TestClient]:
    runtime = make_runtime(make_settings(), plugins)
    return runtime, TestClient(create_app(runtime, background=False), raise_server_exceptions=False)


def test_the_plugin_answers_the_check_as_plain_text_and_nothing_is_stored(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> None:
    runtime, client = _client(make_settings, make_runtime, {"erp": CheckedPlugin()})
    with client:
        good = client.get("/v1/webhooks/erp", params={"token": "right", "challenge": "c-17 ۱"})
        bad = client.get("/v1/webhooks/erp", params={"token": "wrong", "challenge": "c"})
        paths = client.get("/openapi.json").json()["paths"]
    assert good.status_code == 200 and good.text == "c-17 ۱"
    assert good.headers["content-type"].startswith("text/plain")
    assert bad.status_code == 403 and bad.json()["detail"] == "wrong token"
    assert "c" not in bad.json()["detail"].replace("wrong token", "")
    assert set(paths["/v1/webhooks/erp"]) == {"get", "post"}
    with runtime.engine.connect() as connection:
        assert connection.execute(InboxEvent.__table__.select()).all() == []


def test_a_plugin_without_the_hook_is_405_and_an_unknown_plugin_404(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> None:
    _, client = _client(make_settings, make_runtime, {"erp": InboundPlugin()})
    with client:
        plain = client.get("/v1/webhooks/erp", params={"token": "right"})
        unknown = client.get("/v1/webhooks/nobody")
        paths = client.get("/openapi.json").json()["paths"]
    assert plain.status_code == 405 and "does not answer" in plain.json()["detail"]
    assert plain.headers["allow"] == "POST"
    assert unknown.status_code == 404
    assert set(paths["/v1/webhooks/erp"]) == {"post"}


def test_an_answer_that_is_not_text_is_a_server_error(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> None:
    _, client = _client(make_settings, make_runtime, {"erp": BrokenCheck()})
    with client:
        answer = client.get("/v1/webhooks/erp")
    assert answer.status_code == 500
