"""The crm-sync command line: schema, serve and worker start-up checks, dead list and resync."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select
from typer.testing import CliRunner, Result

from core import PermanentError
from core.cli import app
from core.db.engine import create_db_engine
from core.db.migrate import current_revision, head_revision
from core.db.sync_tables import SyncState
from core.db.types import utcnow
from core.kinds import KINDS, KINDS_BY_TYPE
from core.settings import Settings
from core.store import write_record
from core.sync.runtime import SyncRuntime
from core.testing.receiver import Receiver
from tests.core.scripted_plugin import ScriptedPlugin

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
REASON = "HTTP 422 from erp.example: economic code missing"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CRM_SYNC_* variable of the caller's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("CRM_SYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def database(tmp_path: Path) -> str:
    """The URL of the SQLite database the commands use (same file as make_settings)."""
    return f"sqlite:///{tmp_path / 'crm-sync.db'}"


def run(args: list[str], database: str | None = None, **env: str) -> Result:
    """Run ``crm-sync ARGS`` in-process with the given environment."""
    variables = {"COLUMNS": "200", **env}
    if database is not None:
        variables["CRM_SYNC_DATABASE_URL"] = database
    return CliRunner().invoke(app, args, env=variables)


def flat(text: str) -> str:
    """``text`` with every run of whitespace made one space (rich wraps long lines)."""
    return " ".join(text.split())


# -- db --------------------------------------------------------------------------------


def test_db_upgrade_and_current(database: str) -> None:
    before = run(["db", "current"], database)
    assert before.exit_code == 0, before.output
    assert flat(before.stdout) == f"database: empty; needed: {head_revision()}"

    upgraded = run(["db", "upgrade"], database)
    assert upgraded.exit_code == 0, upgraded.output
    assert flat(upgraded.stdout) == f"database schema at {head_revision()}"
    assert current_revision(create_db_engine(database)) == head_revision()

    after = run(["db", "current"], database)
    assert flat(after.stdout) == f"database: {head_revision()}; needed: {head_revision()}"
    assert run(["db", "upgrade"], database).exit_code == 0


def test_db_upgrade_on_the_embedded_default_creates_the_data_folder(tmp_path: Path) -> None:
    result = run(["db", "upgrade"], CRM_SYNC_DATA_DIR=str(tmp_path / "data"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "crm-sync.db").is_file()


def test_invalid_settings_are_reported_without_a_traceback() -> None:
    result = run(["db", "current"], CRM_SYNC_WORKER_THREADS="none")
    assert result.exit_code == 2
    assert "invalid settings" in result.stderr
    assert "worker_threads" in result.stderr
    assert "Traceback" not in result.output


# -- serve and worker ------------------------------------------------------------------


@pytest.mark.postgres
def test_serve_refuses_an_out_of_date_postgresql_schema(postgres_url: str) -> None:
    result = run(["serve", "--port", "1"], postgres_url)
    assert result.exit_code == 2
    message = flat(result.stderr)
    assert "the database schema is at revision none" in message
    assert "run `crm-sync db upgrade` first" in message


def test_serve_upgrades_the_embedded_default_and_prints_a_new_admin_token_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    served: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda api, **options: served.append(options))
    data = tmp_path / "data"

    first = run(["serve", "--host", "127.0.0.1", "--port", "8123"], CRM_SYNC_DATA_DIR=str(data))
    assert first.exit_code == 0, first.output
    assert served[0]["host"] == "127.0.0.1" and served[0]["port"] == 8123
    token = (data / "admin-token").read_text().strip()
    assert stat.S_IMODE((data / "admin-token").stat().st_mode) == 0o600
    assert token in first.stdout
    assert "embedded" in first.stdout
    engine = create_db_engine(f"sqlite:///{data / 'crm-sync.db'}")
    assert current_revision(engine) == head_revision()

    second = run(["serve"], CRM_SYNC_DATA_DIR=str(data))
    assert second.exit_code == 0, second.output
    assert token not in second.stdout
    assert "Using the admin API token" in flat(second.stdout)


def test_serve_with_configured_tokens_creates_no_token_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda api, **options: None)
    result = run(
        ["serve"],
        CRM_SYNC_DATA_DIR=str(tmp_path / "data"),
        CRM_SYNC_API_TOKENS="ops:admin:ops-token-0123456789abcdef",
    )
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "data" / "admin-token").exists()
    assert "ops-token" not in result.output


def test_worker_refuses_to_run_without_a_broker(database: str) -> None:
    result = run(["worker"], database)
    assert result.exit_code == 2
    assert "worker needs CRM_SYNC_BROKER_URL" in flat(result.stderr)


def test_worker_refuses_an_out_of_date_schema(database: str) -> None:
    result = run(["worker"], database, CRM_SYNC_BROKER_URL="redis://127.0.0.1:1/0")
    assert result.exit_code == 2
    assert "run `crm-sync db upgrade` first" in flat(result.stderr)


def test_serve_refuses_bad_plugin_settings(database: str) -> None:
    run(["db", "upgrade"], database)
    result = run(
        ["serve"],
        database,
        CRM_SYNC_PLUGINS__FINANCE__URL="https://erp.example/hooks",
        CRM_SYNC_PLUGINS__FINANCE__SECRET="not-a-webhook-secret",
    )
    assert result.exit_code == 2
    assert "plugins.finance.secret" in flat(result.stderr)


# -- the dead list ---------------------------------------------------------------------


@pytest.fixture
def dead(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> Engine:
    """A migrated database with dead deliveries.

    ``first`` has customers C-1 and C-2 dead and C-3 synced; ``second`` has C-1 dead and
    C-2 and C-3 synced.
    """
    first, second = ScriptedPlugin(), ScriptedPlugin()
    runtime = make_runtime(make_settings(), {"first": first, "second": second})
    customers = KINDS["customers"]
    for record_id in ("C-1", "C-2", "C-3"):
        model = customers.schema.model_validate({"type": "person", "name": f"مشتری {record_id}"})
        write_record(runtime.engine, customers, record_id, model, subscribers=["first", "second"])
    for record_id in ("C-1", "C-2"):
        first.script.append(PermanentError(REASON))
        assert runtime.sync.process("first", [("customer", record_id)]).dead == 1
    second.script.append(PermanentError(REASON))
    assert runtime.sync.process("second", [("customer", "C-1")]).dead == 1
    assert runtime.sync.process("first", [("customer", "C-3")]).pushed == 1
    assert runtime.sync.process("second", [("customer", "C-3")]).pushed == 1
    assert runtime.sync.process("second", [("customer", "C-2")]).pushed == 1
    return runtime.engine


def states(engine: Engine) -> dict[tuple[str, str], str]:
    with engine.connect() as connection:
        rows = connection.execute(select(SyncState.plugin, SyncState.record_id, SyncState.state))
        return {(row.plugin, row.record_id): row.state for row in rows}


def listed(database: str, *options: str) -> list[dict[str, Any]]:
    result = run(["dead", "list", "--json", *options], database)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def test_dead_list_shows_dead_deliveries_with_their_reason(dead: Engine, database: str) -> None:
    rows = listed(database)
    assert sorted((row["plugin"], row["record_id"]) for row in rows) == [
        ("first", "C-1"),
        ("first", "C-2"),
        ("second", "C-1"),
    ]
    assert {row["last_error"] for row in rows} == {REASON}
    assert {(row["kind"], row["state"], row["wanted_version"]) for row in rows} == {
        ("customer", "dead", 1)
    }
    assert [row["record_id"] for row in listed(database, "--plugin", "second")] == ["C-1"]
    assert listed(database, "--kind", "contact") == []


def test_dead_list_as_a_table(dead: Engine, database: str) -> None:
    result = run(["dead", "list", "--plugin", "first"], database)
    assert result.exit_code == 0, result.output
    assert "economic code missing" in result.stdout
    assert result.stdout.rstrip().endswith("2 dead")


@pytest.mark.parametrize(
    ("options", "retried"),
    [
        (["--plugin", "first"], {("first", "C-1"), ("first", "C-2")}),
        (["--id", "C-1"], {("first", "C-1"), ("second", "C-1")}),
        (["--plugin", "second", "--kind", "customer"], {("second", "C-1")}),
        (["--plugin", "first", "--id", "C-2"], {("first", "C-2")}),
        (["--plugin", "second", "--kind", "customers"], {("second", "C-1")}),
        (["--all"], {("first", "C-1"), ("first", "C-2"), ("second", "C-1")}),
        (["--plugin", "second", "--kind", "contact"], set()),
    ],
    ids=["plugin", "id", "plugin-kind", "plugin-id", "plugin-kind-name", "all", "no-match"],
)
def test_dead_retry_makes_the_selection_pending(
    dead: Engine, database: str, options: list[str], retried: set[tuple[str, str]]
) -> None:
    before = states(dead)
    result = run(["dead", "retry", *options, "--yes"], database)
    assert result.exit_code == 0, result.output
    assert flat(result.stdout).startswith(f"{len(retried)} dead deliveries match")
    if retried:
        assert flat(result.stdout).endswith(
            f"retry: {len(retried)} changed, 0 skipped (changed since count)"
        )
    after = states(dead)
    for key, state in before.items():
        assert after[key] == ("pending" if key in retried else state)
    with dead.connect() as connection:
        for plugin, record_id in retried:
            row = connection.execute(
                select(SyncState.attempts, SyncState.enqueued_at).where(
                    SyncState.plugin == plugin, SyncState.record_id == record_id
                )
            ).one()
            assert (row.attempts, row.enqueued_at) == (0, None)


@pytest.mark.parametrize(
    ("options", "purged"),
    [
        (["--plugin", "first"], {("first", "C-1"), ("first", "C-2")}),
        (["--id", "C-2"], {("first", "C-2")}),
        (["--all"], {("first", "C-1"), ("first", "C-2"), ("second", "C-1")}),
    ],
    ids=["plugin", "id", "all"],
)
def test_dead_purge_discards_the_selection(
    dead: Engine, database: str, options: list[str], purged: set[tuple[str, str]]
) -> None:
    before = states(dead)
    result = run(["dead", "purge", *options, "--yes", "--reason", "ERP gone"], database)
    assert result.exit_code == 0, result.output
    assert flat(result.stdout).endswith(
        f"purge: {len(purged)} changed, 0 skipped (changed since count)"
    )
    after = states(dead)
    for key, state in before.items():
        assert after[key] == ("discarded" if key in purged else state)


def test_dead_commands_ask_first_and_are_audited(dead: Engine, database: str) -> None:
    before = states(dead)
    declined = CliRunner().invoke(
        app, ["dead", "retry", "--plugin", "first"], input="n\n",
        env={"COLUMNS": "200", "CRM_SYNC_DATABASE_URL": database},
    )  # fmt: skip
    assert declined.exit_code == 0 and "nothing changed" in declined.stdout
    assert states(dead) == before
    accepted = CliRunner().invoke(
        app, ["dead", "retry", "--plugin", "first", "--reason", "fixed"], input="y\n",
        env={"COLUMNS": "200", "CRM_SYNC_DATABASE_URL": database},
    )  # fmt: skip
    assert accepted.exit_code == 0, accepted.output
    assert states(dead)[("first", "C-1")] == "pending"
    result = run(["audit", "--json"], database)
    actions = [
        (e["action"], e["channel"], e["rows"], e["reason"]) for e in json.loads(result.stdout)
    ]
    assert actions[:2] == [("retry.finished", "system", 2, None), ("retry", "cli", 2, "fixed")]


@pytest.mark.parametrize("command", ["retry", "purge", "resolve"])
def test_dead_commands_refuse_an_empty_selection(dead: Engine, database: str, command: str) -> None:
    before = states(dead)
    result = run(["dead", command], database)
    assert result.exit_code == 2
    assert "name a filter" in flat(result.stderr)
    assert states(dead) == before


@pytest.mark.parametrize("command", ["list", "retry", "purge", "resolve"])
def test_dead_commands_refuse_an_unknown_kind_naming_the_valid_ones(
    dead: Engine, database: str, command: str
) -> None:
    before = states(dead)
    yes = [] if command == "list" else ["--yes"]
    result = run(["dead", command, "--kind", "nonsense", *yes], database)
    assert result.exit_code == 2
    message = flat(result.stderr)
    assert "unknown kind 'nonsense'" in message
    assert ", ".join(sorted(KINDS)) in message
    assert states(dead) == before


@pytest.mark.parametrize("command", ["list", "retry", "purge", "resolve"])
def test_dead_commands_refuse_an_unknown_plugin_naming_the_installed_ones(
    dead: Engine, database: str, command: str
) -> None:
    before = states(dead)
    yes = [] if command == "list" else ["--yes"]
    result = run(["dead", command, "--plugin", "finanse", *yes], database)
    assert result.exit_code == 2
    message = flat(result.stderr)
    assert "unknown plugin 'finanse'; installed: finance, inventory, lead_scoring" in message
    assert states(dead) == before


def test_a_plugin_known_only_by_its_stored_deliveries_may_be_named(
    dead: Engine, database: str
) -> None:
    """``first`` is not installed in this process, but its dead deliveries are in the database."""
    assert [row["record_id"] for row in listed(database, "--plugin", "second")] == ["C-1"]
    result = run(["dead", "purge", "--plugin", "first", "--yes"], database)
    assert result.exit_code == 0, result.output
    assert states(dead)[("first", "C-1")] == "discarded"


@pytest.mark.parametrize("kind", ["customers", "customer"])
def test_dead_list_takes_the_kind_by_its_name_or_its_type(
    dead: Engine, database: str, kind: str
) -> None:
    assert len(listed(database, "--kind", kind)) == 3


@pytest.mark.parametrize(
    "command",
    [["queues", "pause", "finanse", "--reason", "typo"], ["queues", "resume", "finanse"],
     ["inbox", "list", "--plugin", "finanse"], ["inbox", "retry", "--plugin", "finanse"]],
    ids=["pause", "resume", "inbox-list", "inbox-retry"],
)  # fmt: skip
def test_queue_and_inbox_commands_refuse_an_unknown_plugin(
    dead: Engine, database: str, command: list[str]
) -> None:
    result = run(command, database)
    assert result.exit_code == 2
    assert "unknown plugin 'finanse'; installed: finance" in flat(result.stderr)
    assert run(["audit", "--json"], database).stdout.strip() == "[]"


# -- resync ------------------------------------------------------------------------------

FINANCE = {
    "CRM_SYNC_PLUGINS__FINANCE__URL": "https://erp.example/hooks/crm",
    "CRM_SYNC_PLUGINS__FINANCE__SECRET": SECRET,
}


@pytest.fixture
def customers(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> Engine:
    """A migrated database with 25 customers (C-07 at version 2) and one agent.

    C-03 was synced to finance before as ACC-3; nothing else is queued.
    """
    engine = make_runtime(make_settings()).engine
    kind = KINDS["customers"]
    for number in range(25):
        model = kind.schema.model_validate({"type": "person", "name": f"مشتری {number}"})
        write_record(engine, kind, f"C-{number:02d}", model, subscribers=[])
    model = kind.schema.model_validate({"type": "person", "name": "نام دوم"})
    write_record(engine, kind, "C-07", model, subscribers=[])
    agent = KINDS["agents"].schema.model_validate({"name": "رضا محمدی"})
    write_record(engine, KINDS["agents"], "A-1", agent, subscribers=[])
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(
            insert(SyncState).values(
                plugin="finance",
                kind="customer",
                record_id="C-03",
                state="synced",
                wanted_version=1,
                synced_version=1,
                external_id="ACC-3",
                attempts=0,
                due_at=now,
                updated_at=now,
            )
        )
    return engine


def finance_rows(engine: Engine) -> dict[str, SyncState]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(SyncState.__table__).where(SyncState.plugin == "finance")
        ).all()
    return {row.record_id: SyncState(**row._mapping) for row in rows}


def test_resync_queues_every_customer_for_finance(customers: Engine, database: str) -> None:
    result = run(["resync", "finance", "--no-wait"], database, **FINANCE)
    assert result.exit_code == 0, result.output
    assert "25/25" in result.stdout
    rows = finance_rows(customers)
    assert sorted(rows) == [f"C-{number:02d}" for number in range(25)]
    for record_id, row in rows.items():
        assert (row.kind, row.state, row.attempts) == ("customer", "pending", 0)
        assert row.wanted_version == (2 if record_id == "C-07" else 1)
        assert row.synced_version is None
        assert row.enqueued_at is None
    assert rows["C-03"].external_id == "ACC-3"
    assert rows["C-04"].external_id is None


def test_resync_of_one_kind(customers: Engine, database: str) -> None:
    result = run(["resync", "finance", "--kind", "customer", "--no-wait"], database, **FINANCE)
    assert result.exit_code == 0, result.output
    assert len(finance_rows(customers)) == 25


def test_resync_of_one_kind_named_as_in_the_urls(customers: Engine, database: str) -> None:
    result = run(["resync", "finance", "--kind", "customers", "--no-wait"], database, **FINANCE)
    assert result.exit_code == 0, result.output
    assert len(finance_rows(customers)) == 25


def test_resync_refuses_a_kind_the_plugin_does_not_take(customers: Engine, database: str) -> None:
    result = run(["resync", "finance", "--kind", "agent", "--no-wait"], database, **FINANCE)
    assert result.exit_code == 2
    assert "does not subscribe to 'agent'; it takes customer, product, proforma" in flat(
        result.stderr
    )
    assert list(finance_rows(customers)) == ["C-03"]


def test_resync_refuses_an_unknown_kind(customers: Engine, database: str) -> None:
    result = run(["resync", "finance", "--kind", "nonsense", "--no-wait"], database, **FINANCE)
    assert result.exit_code == 2
    assert "unknown kind 'nonsense'; finance takes customer, product, proforma" in flat(
        result.stderr
    )
    assert list(finance_rows(customers)) == ["C-03"]


@pytest.mark.parametrize(
    ("plugin", "env"),
    [("finance", {}), ("shop", FINANCE), ("finance", {"CRM_SYNC_DISABLED_PLUGINS": "finance"})],
    ids=["idle", "not-installed", "disabled"],
)
def test_resync_refuses_a_plugin_that_is_not_active(
    customers: Engine, database: str, plugin: str, env: dict[str, str]
) -> None:
    result = run(["resync", plugin, "--no-wait"], database, **env)
    assert result.exit_code == 2
    assert f"plugin {plugin!r} is not installed, enabled and configured" in flat(result.stderr)
    # The plugins that are active are named, not only the one the resync loaded.
    active = "finance, lead_scoring" if plugin == "shop" else "lead_scoring"
    assert flat(result.stderr).endswith(f"active: {active}")
    assert list(finance_rows(customers)) == ["C-03"]


def test_resync_loads_only_its_plugin(customers: Engine, database: str) -> None:
    """Another plugin's settings are not the resync's business: a bad one does not stop it."""
    bad = {"CRM_SYNC_PLUGINS__INVENTORY__URL": "not a url"}
    assert run(["plugins"], database, **FINANCE, **bad).exit_code != 0
    result = run(["resync", "finance", "--no-wait"], database, **FINANCE, **bad)
    assert result.exit_code == 0, result.output
    assert len(finance_rows(customers)) == 25


# -- plugins --check ---------------------------------------------------------------------


def test_plugins_check_reports_a_reachable_target(receiver: Receiver, webhook_secret: str) -> None:
    env = {
        "CRM_SYNC_PLUGINS__FINANCE__URL": receiver.url + "/crm",
        "CRM_SYNC_PLUGINS__FINANCE__SECRET": webhook_secret,
    }
    result = run(["plugins", "--json", "--check"], **env)
    assert result.exit_code == 0, result.output
    [finance] = [row for row in json.loads(result.stdout) if row["name"] == "finance"]
    assert finance["health"]["ok"] is True
    assert finance["health"]["detail"].startswith(f"{receiver.url}/crm answers HTTP")


def test_plugins_check_reports_an_unreachable_target(webhook_secret: str) -> None:
    with Receiver(webhook_secret) as gone:
        url = gone.url
    env = {
        "CRM_SYNC_PLUGINS__FINANCE__URL": url,
        "CRM_SYNC_PLUGINS__FINANCE__SECRET": webhook_secret,
    }
    result = run(["plugins", "--json", "--check"], **env)
    assert result.exit_code == 1, "a failed check exits non-zero"
    [finance] = [row for row in json.loads(result.stdout) if row["name"] == "finance"]
    assert finance["health"] == {"ok": False, "detail": f"{url}/ unreachable: ConnectError"}
    table = run(["plugins", "--check"], **env)
    assert "unreachable" in table.stdout and table.exit_code == 1
    assert run(["plugins", "--json"], **env).exit_code == 0, "listing alone checks nothing"


def test_plugins_check_reports_a_paused_plugin_unhealthy(
    receiver: Receiver, webhook_secret: str, tmp_path: Path
) -> None:
    from core.db.engine import create_db_engine
    from core.sync.pause import pause_plugin

    database = f"sqlite:///{tmp_path / 'paused.db'}"
    assert run(["db", "upgrade"], database).exit_code == 0
    engine = create_db_engine(database)
    pause_plugin(engine, "finance", by="plugin", reason="access token expired")
    engine.dispose()
    env = {
        "CRM_SYNC_PLUGINS__FINANCE__URL": receiver.url + "/crm",
        "CRM_SYNC_PLUGINS__FINANCE__SECRET": webhook_secret,
    }
    result = run(["plugins", "--json", "--check"], database, **env)
    assert result.exit_code == 1, result.output
    [finance] = [row for row in json.loads(result.stdout) if row["name"] == "finance"]
    assert finance["health"] == {
        "ok": False,
        "detail": "sending paused by plugin: access token expired",
    }


def test_plugins_check_skips_idle_plugins() -> None:
    result = run(["plugins", "--json", "--check"])
    [finance] = [row for row in json.loads(result.stdout) if row["name"] == "finance"]
    assert finance["status"] == "idle"
    assert "health" not in finance


def test_dead_list_shows_a_reason_with_brackets_as_sent(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime], database: str
) -> None:
    scripted = ScriptedPlugin()
    runtime = make_runtime(make_settings(), {"scripted": scripted})
    customers = KINDS["customers"]
    model = customers.schema.model_validate({"type": "person", "name": "سارا"})
    write_record(runtime.engine, customers, "C-1", model, subscribers=["scripted"])
    reason = 'HTTP 422 from erp.example: {"errors": [{"pointer": "[/data/phones/0]"}]} [bold]'
    scripted.script.append(PermanentError(reason))
    runtime.sync.process("scripted", [("customer", "C-1")])
    result = run(["dead", "list"], database, COLUMNS="400")
    assert result.exit_code == 0, result.output
    assert reason in result.stdout


# -- score -----------------------------------------------------------------------------


def test_score_needs_to_be_told_what_to_do(database: str) -> None:
    result = run(["score"], database)
    assert result.exit_code == 2
    assert "say what to do: --train, --all or --lead ID" in flat(result.stderr)


def test_score_all_rescores_every_lead_and_training_says_why_it_did_not(database: str) -> None:
    assert run(["db", "upgrade"], database).exit_code == 0
    engine = create_db_engine(database)
    lead = KINDS_BY_TYPE["lead"]
    for number in range(3):
        model = lead.schema.model_validate({"contact_name": f"لید {number}", "source": "referral"})
        write_record(engine, lead, f"L-{number}", model, subscribers=[])
    engine.dispose()
    result = run(["score", "--all", "--train"], database)
    assert result.exit_code == 0, result.output
    output = flat(result.stdout)
    assert "no model trained: 0 won or lost leads; at least 50 are needed" in output
    assert "rescored 3 leads: 3 changed, 3 written back" in output
    again = run(["score", "--all"], database)
    assert "rescored 3 leads: 0 changed, 0 written back" in flat(again.stdout)
