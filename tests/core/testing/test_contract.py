"""The contract suite itself: a plain JSON plugin passes it, a careless one fails it.

Both run in an inner pytest session (pytester), as a plugin's own tests would, with the
developer's environment set to things that would break a run that read it.
"""

from __future__ import annotations

import pytest

# Imported here so the inner sessions find it loaded: numpy, under it, loads once a process.
import core.testing.contract  # noqa: F401

PLUGIN = '''
import uuid

import httpx
import pytest
from pydantic import HttpUrl

from core import (
    HealthReport, PermanentError, PluginDescription, PluginSettings, PushResult,
    TransientError, hookimpl,
)
from core.connectors.http import error_for_response
from core.testing.contract import ContractTarget, PluginContract
from core.testing.receiver import Receiver

pytest_plugins = ["core.testing.fixtures"]


class Settings(PluginSettings):
    url: HttpUrl | None = None


class Plain:
    """Unsigned JSON to a URL, with the document's idempotency key."""

    careless = False

    @hookimpl
    def crm_sync_settings_model(self):
        return Settings

    @hookimpl
    def crm_sync_describe(self, context):
        url = context.settings.url
        return PluginDescription(subscriptions=("customer",), target=str(url) if url else None)

    @hookimpl
    def crm_sync_map_record(self, context, record):
        return {"type": record.type, "id": record.id, "version": record.version,
                "data": record.data.model_dump(mode="json")}

    @hookimpl
    def crm_sync_push(self, context, documents):
        results = []
        for document in documents:
            key = uuid.uuid4().hex if self.careless else document.idempotency_key
            response = context.http.post(
                str(context.settings.url), json=document.payload, headers={"idempotency-key": key}
            )
            error = error_for_response(response)
            if error is not None and self.careless:
                raise TransientError(str(error))
            if error is not None:
                raise error
            results.append(PushResult(external_id=response.json().get("external_id")))
        return results

    @hookimpl
    def crm_sync_health(self, context):
        return HealthReport(ok=True, detail="")


class Careless(Plain):
    """A new key per attempt, every failure transient, Retry-After dropped."""

    careless = True


class TestPlainContract(PluginContract):
    plugin_name = "plain"

    @pytest.fixture
    def plugin(self):
        return {CLASS}()

    @pytest.fixture
    def target(self):
        with Receiver(None, envelope=False) as receiver:
            yield ContractTarget(
                settings={"url": receiver.url + "/in"}, received=receiver.versions,
                receiver=receiver,
            )
'''


@pytest.fixture
def developer_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a developer configuring the plugin by hand may have set in the shell."""
    monkeypatch.setenv("CRM_SYNC_PLUGINS__PLAIN__URL", "http://127.0.0.1:9/elsewhere")
    monkeypatch.setenv("CRM_SYNC_PLUGINS__PLAIN__NOT_A_SETTING", "1")
    monkeypatch.setenv("CRM_SYNC_CONFIG", "/nonexistent/crm-sync.toml")
    monkeypatch.setenv("CRM_SYNC_DISABLED_PLUGINS", "plain")
    monkeypatch.setenv("CRM_SYNC_SYNC__MAX_ATTEMPTS", "1")


@pytest.mark.usefixtures("developer_environment")
def test_a_plain_json_plugin_passes_the_whole_contract(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain=PLUGIN.replace("{CLASS}", "Plain"))

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q")

    result.assert_outcomes(passed=19, skipped=3)


@pytest.mark.usefixtures("developer_environment")
def test_a_careless_plugin_fails_the_failure_contract(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_careless=PLUGIN.replace("{CLASS}", "Careless"))

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q")

    failed = {
        line.split("::")[-1].split(" ")[0] for line in result.outlines if line.startswith("FAILED")
    }
    assert failed == {
        *(f"test_a_refusal_is_dead_at_once_with_the_reason[{s}]" for s in (400, 404, 422)),
        *(
            f"test_a_transient_answer_is_retried_with_the_same_key[{s}]"
            for s in (500, 503, 408, 429)
        ),
        "test_a_timeout_is_retried_and_delivered_once",
        "test_retry_after_is_honoured",
        "test_a_target_failing_every_time_ends_dead_after_max_attempts",
        "test_a_resync_sends_the_same_key_again",
    }, result.stdout.str()
