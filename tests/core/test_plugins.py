"""The plugin host: discovery, blocking, validation of hooks and settings, idle plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from core import ConfigurationError, PluginContext, PluginDescription, hookimpl
from core.cli import app
from core.plugins import ENTRY_POINT_GROUP, PluginHost, hook_names
from core.settings import Settings
from core.store import write_record
from core.sync.runtime import SyncRuntime
from plugins.finance import plugin as finance_plugin
from plugins.finance.settings import FinanceSettings
from tests.core.scripted_plugin import ScriptedPlugin

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FINANCE = {"url": "https://erp.example/hooks/crm", "secret": SECRET}
#: The hooks the finance module implements, as pluggy's marker records them.
FINANCE_HOOKS = sorted(
    name for name, value in vars(finance_plugin).items() if hasattr(value, "crm_sync_impl")
)
#: What a plugin that pushes documents must implement.
PUSH_HOOKS = {
    "crm_sync_describe",
    "crm_sync_health",
    "crm_sync_map_record",
    "crm_sync_push",
    "crm_sync_settings_model",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CRM_SYNC_* variable of the caller's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("CRM_SYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def hosts() -> Iterator[Callable[..., PluginHost]]:
    built: list[PluginHost] = []

    def build(settings: Settings, **kwargs: Any) -> PluginHost:
        host = PluginHost(settings, **kwargs)
        built.append(host)
        return host

    yield build
    for host in built:
        host.close()


def test_finance_is_registered_through_the_entry_point_group() -> None:
    [entry_point] = [
        point for point in metadata.entry_points(group=ENTRY_POINT_GROUP) if point.name == "finance"
    ]
    assert entry_point.value == "plugins.finance.plugin"


def test_entry_point_plugins_are_loaded(hosts: Callable[..., PluginHost]) -> None:
    host = hosts(Settings(plugins={"finance": FINANCE}))
    assert "finance" in host.names()
    [finance] = [info for info in host.installed() if info.name == "finance"]
    assert finance.version == metadata.version("crm-sync")
    assert (finance.enabled, finance.status) == (True, "active")
    assert finance.hooks == FINANCE_HOOKS
    assert set(FINANCE_HOOKS) >= PUSH_HOOKS
    assert isinstance(host.context("finance").settings, FinanceSettings)
    description = host.description("finance")
    assert "customer" in description.subscriptions
    assert (description.target, description.max_batch) == (
        "webhook https://erp.example/hooks/crm",
        1,
    )
    assert "finance" in host.active()
    assert host.subscribers("customer") == ["finance"]


def test_without_entry_points_only_given_plugins_load(hosts: Callable[..., PluginHost]) -> None:
    host = hosts(Settings(), extra_plugins={"scripted": ScriptedPlugin()}, load_entry_points=False)
    assert host.names() == ["scripted"]


def test_disabled_plugins_are_blocked_but_listed(
    hosts: Callable[..., PluginHost], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_SYNC_DISABLED_PLUGINS", "finance, scripted")
    settings = Settings()
    assert settings.disabled_plugins == ["finance", "scripted"]
    host = hosts(settings, extra_plugins={"scripted": ScriptedPlugin(), "other": ScriptedPlugin()})
    assert "other" in host.names()
    assert not {"finance", "scripted"} & set(host.names())
    assert "other" in host.active()
    assert host.subscribers("customer") == ["other"]
    finance = [info for info in host.installed() if info.name == "finance"]
    assert len(finance) == 1
    assert (finance[0].enabled, finance[0].status, finance[0].hooks) == (False, "disabled", [])
    assert finance[0].version == metadata.version("crm-sync")


def test_a_disabled_plugin_may_keep_its_settings(hosts: Callable[..., PluginHost]) -> None:
    settings = Settings(disabled_plugins=["finance"], plugins={"finance": {"secret": "bad"}})
    assert "finance" not in hosts(settings).names()


class Misspelt:
    @hookimpl
    def crm_sync_pushh(self, context: PluginContext, documents: list[Any]) -> list[Any]:
        return []


class WrongArgument:
    @hookimpl
    def crm_sync_describe(self, ctx: PluginContext) -> PluginDescription:
        return PluginDescription(("customer",), target="x")


def test_a_misspelt_hook_fails_at_start_up(hosts: Callable[..., PluginHost]) -> None:
    with pytest.raises(ConfigurationError) as raised:
        hosts(Settings(), extra_plugins={"misspelt": Misspelt()}, load_entry_points=False)
    assert str(raised.value) == (
        "plugin 'misspelt' implements crm_sync_pushh, which is not a crm-sync hook "
        "(did you mean crm_sync_push(context, documents)?); "
        'disable it with disabled_plugins = ["misspelt"] '
        "(or CRM_SYNC_DISABLED_PLUGINS=misspelt) to start without it"
    )


def test_a_hook_with_an_unknown_argument_fails_at_start_up(
    hosts: Callable[..., PluginHost],
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        hosts(Settings(), extra_plugins={"wrong": WrongArgument()}, load_entry_points=False)
    assert str(raised.value) == (
        "plugin 'wrong': its hook crm_sync_describe takes {'ctx'}, not in the specification "
        "crm_sync_describe(context); "
        'disable it with disabled_plugins = ["wrong"] '
        "(or CRM_SYNC_DISABLED_PLUGINS=wrong) to start without it"
    )


@pytest.mark.parametrize(
    ("finance", "field", "reason"),
    [
        ({"url": FINANCE["url"], "secret": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "secret", "whsec_"),
        ({"url": FINANCE["url"], "secret": "whsec_c2hvcnQ="}, "secret", "24 bytes"),
        ({"url": "not a url", "secret": SECRET}, "url", "valid URL"),
        ({"url": FINANCE["url"]}, "secret", "secret is required"),
        ({**FINANCE, "batch": "sometimes"}, "batch", "boolean"),
        ({**FINANCE, "max_batch": 0}, "max_batch", "greater than or equal to 1"),
        ({**FINANCE, "urll": "https://erp.example"}, "urll", "Extra inputs"),
    ],
    ids=["no-prefix", "short-key", "bad-url", "no-secret", "bad-batch", "zero-batch", "misspelt"],
)
def test_bad_plugin_settings_stop_start_up_naming_plugin_and_field(
    hosts: Callable[..., PluginHost], finance: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        hosts(Settings(plugins={"finance": finance}))
    message = str(raised.value)
    assert message.startswith("plugin 'finance' has invalid settings: plugins.finance.")
    assert field in message
    assert reason in message
    assert "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" not in message


def test_settings_of_a_plugin_that_is_not_installed_are_refused(
    hosts: Callable[..., PluginHost],
) -> None:
    with pytest.raises(ConfigurationError, match="not installed: erp, shop"):
        hosts(Settings(plugins={"finance": FINANCE, "shop": {}, "erp": {"url": "x"}}))


class Idle(ScriptedPlugin):
    @hookimpl
    def crm_sync_describe(self, context: PluginContext) -> PluginDescription:
        return PluginDescription(self.subscriptions, target=None)


def test_a_plugin_without_a_target_is_idle_and_not_a_subscriber(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> None:
    from core.kinds import KINDS

    runtime = make_runtime(
        make_settings(), {"idle": Idle(), "scripted": ScriptedPlugin()}, load_entry_points=True
    )
    host = runtime.host
    assert {"finance", "idle", "scripted"} <= set(host.names())
    assert "scripted" in host.active()
    assert not {"finance", "idle"} & set(host.active())
    assert host.subscribers("customer") == ["scripted"]
    statuses = {info.name: info.status for info in host.installed()}
    assert (statuses["finance"], statuses["idle"], statuses["scripted"]) == (
        "idle",
        "idle",
        "active",
    )
    assert "scripted" in runtime.actors
    assert not {"finance", "idle"} & set(runtime.actors)
    assert runtime.dispatch("idle", [("customer", "C-1")]) is False
    customer = KINDS["customers"].schema.model_validate({"type": "person", "name": "سارا"})
    result = write_record(
        runtime.engine,
        KINDS["customers"],
        "C-1",
        customer,
        subscribers=host.subscribers("customer"),
    )
    assert result.subscribers == ("scripted",)


def test_finance_implements_only_specified_hooks() -> None:
    assert PUSH_HOOKS <= set(FINANCE_HOOKS) <= set(hook_names())


def test_hook_tracing_writes_every_call_to_stderr(
    hosts: Callable[..., PluginHost],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CRM_SYNC_TRACE_HOOKS", "1")
    hosts(Settings(), extra_plugins={"scripted": ScriptedPlugin()}, load_entry_points=False)
    assert "crm_sync_describe" in capsys.readouterr().err


def finance_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The one row about the finance plugin among every installed plugin's."""
    [row] = [row for row in rows if row["name"] == "finance"]
    return row


def plugins_json(env: dict[str, str]) -> dict[str, Any]:
    """Run ``crm-sync plugins --json`` and return the finance plugin's row."""
    result = CliRunner().invoke(app, ["plugins", "--json"], env=env)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    assert [row["name"] for row in rows] == sorted(row["name"] for row in rows)
    return finance_row(rows)


def test_the_plugins_command_lists_an_idle_plugin() -> None:
    finance = plugins_json({})
    assert set(finance) == {"name", "version", "status", "target", "subscriptions", "hooks"}
    assert (finance["version"], finance["status"], finance["target"]) == (
        metadata.version("crm-sync"),
        "idle",
        None,
    )
    assert "customer" in finance["subscriptions"]
    assert finance["hooks"] == FINANCE_HOOKS


def test_the_plugins_command_lists_a_configured_plugin_from_environment_variables() -> None:
    env = {
        "CRM_SYNC_PLUGINS__FINANCE__URL": FINANCE["url"],
        "CRM_SYNC_PLUGINS__FINANCE__SECRET": SECRET,
    }
    finance = plugins_json(env)
    assert (finance["status"], finance["target"]) == (
        "active",
        "webhook https://erp.example/hooks/crm",
    )
    assert "customer" in finance["subscriptions"]
    assert finance["hooks"] == FINANCE_HOOKS


def test_the_plugins_command_lists_a_disabled_plugin() -> None:
    finance = plugins_json({"CRM_SYNC_DISABLED_PLUGINS": "finance"})
    assert (finance["name"], finance["status"], finance["hooks"]) == ("finance", "disabled", [])


def test_the_plugins_command_refuses_bad_settings_with_the_field_named() -> None:
    env = {
        "CRM_SYNC_PLUGINS__FINANCE__URL": FINANCE["url"],
        "CRM_SYNC_PLUGINS__FINANCE__SECRET": "not-a-webhook-secret",
    }
    result = CliRunner().invoke(app, ["plugins", "--json"], env=env)
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "plugins.finance.secret" in message
    assert "not-a-webhook-secret" not in result.output


def test_the_plugins_table_says_why_a_plugin_is_idle() -> None:
    result = CliRunner().invoke(app, ["plugins"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "idle (no target configured)" in result.stdout
    assert "crm_sync_push" in result.stdout


def test_the_installed_console_script_lists_plugins_as_json(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("crm-sync")
    env = {"PATH": str(script.parent), "CRM_SYNC_PLUGINS__FINANCE__URL": FINANCE["url"]}
    env["CRM_SYNC_PLUGINS__FINANCE__SECRET"] = SECRET
    done = subprocess.run(
        [str(script), "plugins", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert finance_row(json.loads(done.stdout))["status"] == "active"


def test_call_each_asks_every_implementer_in_name_order_and_isolates_failures(
    make_settings: Any, make_runtime: Any
) -> None:
    from core import HealthReport, hookimpl

    class Broken(ScriptedPlugin):
        @hookimpl
        def crm_sync_health(self) -> HealthReport:
            raise RuntimeError("target exploded")

    runtime = make_runtime(make_settings(), {"b": ScriptedPlugin(), "a": Broken()})
    answers = list(runtime.host.call_each("crm_sync_health"))
    assert [name for name, _ in answers] == ["a", "b"]
    assert isinstance(answers[0][1], RuntimeError)
    assert answers[1][1] == HealthReport(ok=True, detail="scripted")
    assert list(runtime.host.call_each("crm_sync_poll", cursor=None)) == []
