"""A real, throwaway Tryton 8.2 server on loopback for tests, and pytest fixtures around it.

The database is built once (``trytond-admin`` on SQLite, then company, chart of accounts,
fiscal year, taxes and payment term set up through :class:`TrytonClient`, exactly as an
integrator would over JSON-RPC) and cached as a template file under a directory keyed by
the installed trytond version. Every test gets a copy of that file (milliseconds) and its
own ``trytond`` process on a free port.

Use it from any test module with ``pytest_plugins = ["core.testing.tryton"]``. Without
trytond installed the fixtures skip; under ``CI=true`` they fail, so a missing ERP can
never turn CI green. ``scripts/setup-tryton.sh`` installs trytond and its modules.

The ``ship_*``, ``receive_return``, ``add_stock``, ``pay_invoice`` and ``run_production``
helpers play the ERP's staff (warehouse, accounting, workshop) so tests can move
documents along the way people would in Tryton's own client.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import importlib.metadata
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

import httpx
import pytest

from erp.tryton.client import TrytonClient

__all__ = [
    "ADMIN_LOGIN",
    "ADMIN_PASSWORD",
    "TEMPLATE_ACCOUNT_CATEGORY",
    "TEMPLATE_PAYMENT_METHOD",
    "TEMPLATE_PAYMENT_TERM",
    "TEMPLATE_TAX",
    "TRYTON_MODULES",
    "TrytonServer",
    "add_stock",
    "build_template",
    "pay_invoice",
    "receive_return",
    "require_trytond",
    "run_production",
    "run_server",
    "ship",
    "tryton_client",
    "tryton_server",
    "tryton_template",
    "trytond_version",
]

#: Modules activated in the test database (their dependencies come along).
TRYTON_MODULES = (
    "party",
    "product",
    "company",
    "currency",
    "sale",
    "sale_discount",
    "stock",
    "production",
    "sale_supply_production",
    "account",
    "account_invoice",
)

#: Administrator of the throwaway database; never used outside tests.
ADMIN_LOGIN = "admin"
ADMIN_PASSWORD = "admin"  # noqa: S105 - throwaway loopback test database

#: Names of the records the template holds for tests to look up.
TEMPLATE_ACCOUNT_CATEGORY = "Goods"
TEMPLATE_PAYMENT_TERM = "Direct"
TEMPLATE_TAX = "VAT 10%"
TEMPLATE_PAYMENT_METHOD = "Cash"

#: Bumped whenever the template's content changes, so stale caches are not reused.
_TEMPLATE_REVISION = 1
_DATABASE = "erp"
_SERVER_START_TIMEOUT = 60.0


def trytond_version() -> str | None:
    """Return the installed trytond version, or None when trytond is not installed."""
    try:
        return importlib.metadata.version("trytond")
    except importlib.metadata.PackageNotFoundError:
        return None


def _missing_modules() -> list[str]:
    missing = []
    for module in TRYTON_MODULES:
        distribution = "trytond-" + module.replace("_", "-")
        try:
            importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            missing.append(distribution)
    return missing


def _cache_root() -> Path:
    configured = os.environ.get("CRM_SYNC_TRYTON_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "crm-sync" / "tryton"


def _write_config(directory: Path) -> Path:
    config = directory / "trytond.conf"
    config.write_text(f"[database]\nuri = sqlite://\npath = {directory}\n", encoding="utf-8")
    return config


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class TrytonServer:
    """A running throwaway trytond: where it listens and how to log in."""

    url: str
    database: str
    login: str
    password: str
    log_path: Path

    def client(self, http: httpx.Client) -> TrytonClient:
        """Return a client logged in as the administrator of this server."""
        return TrytonClient(
            http, url=self.url, database=self.database, username=self.login, password=self.password
        )


@contextlib.contextmanager
def run_server(database_file: Path, workdir: Path) -> Iterator[TrytonServer]:
    """Copy ``database_file`` into ``workdir``, serve it on a free loopback port, stop after.

    The process is started with ``-d`` so the database's pool is loaded before the port
    opens; readiness is the first HTTP answer on the port.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(database_file, workdir / f"{_DATABASE}.sqlite")
    config = _write_config(workdir)
    port = _free_port()
    log_path = workdir / "trytond.log"
    env = {**os.environ, "TRYTOND_WEB__LISTEN": f"127.0.0.1:{port}"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "trytond.cli", "-c", str(config), "-d", _DATABASE],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, url, log_path)
        yield TrytonServer(
            url=url,
            database=_DATABASE,
            login=ADMIN_LOGIN,
            password=ADMIN_PASSWORD,
            log_path=log_path,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + _SERVER_START_TIMEOUT
    with httpx.Client(timeout=1.0) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"trytond exited with {process.returncode} before answering:\n"
                    + log_path.read_text(errors="replace")[-3000:]
                )
            try:
                http.get(url + "/")
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            return
    raise RuntimeError(f"trytond did not answer on {url} within {_SERVER_START_TIMEOUT:.0f} s")


# -- the template database ------------------------------------------------------------


def _template_path(today: dt.date) -> Path:
    version = trytond_version() or "none"
    name = f"erp-{today:%Y-%m}-r{_TEMPLATE_REVISION}.sqlite"
    return _cache_root() / f"trytond-{version}" / name


def build_template(*, today: dt.date | None = None, rebuild: bool = False) -> Path:
    """Return the path of the template database, building and caching it when needed.

    The cache is keyed by trytond's version, the month (the fiscal year is centred on
    it) and ``_TEMPLATE_REVISION``; a lock file keeps parallel sessions from building it
    twice, and the finished file is moved into place atomically.
    """
    today = today or dt.date.today()
    target = _template_path(today)
    if target.exists() and not rebuild:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists() and not rebuild:
            return target
        with tempfile.TemporaryDirectory(prefix="tryton-build-") as scratch:
            built = _build_database(Path(scratch), today)
            partial = target.with_suffix(".partial")
            shutil.copyfile(built, partial)
            partial.replace(target)
    return target


def _build_database(directory: Path, today: dt.date) -> Path:
    config = _write_config(directory)
    database_file = directory / f"{_DATABASE}.sqlite"
    database_file.touch()
    password_file = directory / "admin-password"
    password_file.write_text(ADMIN_PASSWORD + "\n", encoding="utf-8")
    env = {**os.environ, "TRYTONPASSFILE": str(password_file)}
    command = [
        sys.executable,
        "-m",
        "trytond.cli.admin",
        "-c",
        str(config),
        "-d",
        _DATABASE,
        "--all",
        "--email",
        "admin@example.com",
        "--activate-dependencies",
        "-u",
        *TRYTON_MODULES,
    ]
    done = subprocess.run(
        command, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace")
        raise RuntimeError(f"trytond-admin failed ({done.returncode}):\n{output[-3000:]}")
    with (
        run_server(database_file, directory / "serve") as server,
        httpx.Client(timeout=120.0) as http,
    ):
        _set_up_company(server.client(http), today)
    built = directory / "serve" / f"{_DATABASE}.sqlite"
    _fold_journal(built)
    return built


def _fold_journal(database_file: Path) -> None:
    """Fold SQLite's write-ahead log into the file so one file holds the whole database.

    trytond runs SQLite in WAL mode and a stopped server leaves its last writes in the
    ``-wal`` file; switching the journal back to ``DELETE`` checkpoints them.
    """
    connection = sqlite3.connect(database_file)
    try:
        connection.execute("PRAGMA journal_mode = DELETE")
    finally:
        connection.close()


def _set_up_company(client: TrytonClient, today: dt.date) -> None:
    """Create the IRR company, its accounts, fiscal year, tax, payment term and methods."""
    client.login()
    (currency,) = client.create(
        "currency.currency",
        [
            {
                "name": "Iranian Rial",
                "code": "IRR",
                "symbol": "IRR",
                "rounding": Decimal(1),
                "digits": 0,
            }
        ],
    )
    (company_party,) = client.create("party.party", [{"name": "Test Trading Co."}])
    (company,) = client.create("company.company", [{"party": company_party, "currency": currency}])
    users = client.search("res.user", [("companies", "=", None)])
    client.write("res.user", users, {"companies": [("add", [company])], "company": company})
    client.login()

    chart = client.model_data_id("account", "account_template_root_en")
    chart_data = {"company": company, "account_template": chart}
    properties = client.run_wizard(
        "account.create_chart",
        model="account.account.template",
        ids=[chart],
        steps=[("create_account", {"account": chart_data})],
    )
    accounts = _accounts_by_kind(client, company)
    client.run_wizard(
        "account.create_chart",
        model="account.account.template",
        ids=[chart],
        steps=[
            (
                "create_properties",
                {
                    "account": chart_data,
                    "properties": {
                        **properties.defaults,
                        "company": company,
                        "account_receivable": accounts["receivable"],
                        "account_payable": accounts["payable"],
                        "category_account_revenue": accounts["revenue"],
                        "category_account_expense": accounts["expense"],
                    },
                },
            )
        ],
    )
    _create_fiscal_year(client, company, today)

    (tax,) = client.create(
        "account.tax",
        [
            {
                "name": TEMPLATE_TAX,
                "description": TEMPLATE_TAX,
                "type": "percentage",
                "rate": Decimal("0.10"),
                "company": company,
                "invoice_account": accounts["tax"],
                "credit_note_account": accounts["tax"],
            }
        ],
    )
    client.create(
        "product.category",
        [
            {
                "name": TEMPLATE_ACCOUNT_CATEGORY,
                "accounting": True,
                "account_revenue": accounts["revenue"],
                "account_expense": accounts["expense"],
                "customer_taxes": [("add", [tax])],
            }
        ],
    )
    client.create(
        "account.invoice.payment_term",
        [{"name": TEMPLATE_PAYMENT_TERM, "lines": [("create", [{"type": "remainder"}])]}],
    )
    (cash_journal,) = client.search("account.journal", [("type", "=", "cash")], limit=1)
    client.create(
        "account.invoice.payment.method",
        [
            {
                "name": TEMPLATE_PAYMENT_METHOD,
                "company": company,
                "journal": cash_journal,
                "credit_account": accounts["cash"],
                "debit_account": accounts["cash"],
            }
        ],
    )


def _accounts_by_kind(client: TrytonClient, company: int) -> dict[str, int]:
    accounts: dict[str, int] = {}
    for kind in ("receivable", "payable", "revenue", "expense"):
        (found,) = client.search(
            "account.account",
            [(f"type.{kind}", "=", True), ("company", "=", company), ("closed", "!=", True)],
            limit=1,
        )
        accounts[kind] = found
    for kind, code in (("cash", "1.1.1"), ("tax", "6.3.6")):
        (found,) = client.search(
            "account.account", [("company", "=", company), ("code", "=", code)], limit=1
        )
        accounts[kind] = found
    return accounts


def _create_fiscal_year(client: TrytonClient, company: int, today: dt.date) -> None:
    """Create a fiscal year from six months before ``today``'s month to six months after."""
    first = today.replace(day=1)
    start = _add_months(first, -6)
    end = _add_months(first, 7) - dt.timedelta(days=1)

    def sequence_type(name: str) -> int:
        (found,) = client.search("ir.sequence.type", [("name", "=", name)], limit=1)
        return found

    (move_sequence,) = client.create(
        "ir.sequence.strict",
        [{"name": "Moves", "sequence_type": sequence_type("Account Move"), "company": company}],
    )
    (invoice_sequence,) = client.create(
        "ir.sequence.strict",
        [{"name": "Invoices", "sequence_type": sequence_type("Invoice"), "company": company}],
    )
    (fiscal_year,) = client.create(
        "account.fiscalyear",
        [
            {
                "name": f"{start:%Y-%m}..{end:%Y-%m}",
                "start_date": start,
                "end_date": end,
                "company": company,
                "move_sequence": move_sequence,
                "invoice_sequences": [
                    (
                        "create",
                        [
                            {
                                "company": company,
                                "out_invoice_sequence": invoice_sequence,
                                "in_invoice_sequence": invoice_sequence,
                                "out_credit_note_sequence": invoice_sequence,
                                "in_credit_note_sequence": invoice_sequence,
                            }
                        ],
                    )
                ],
            }
        ],
    )
    client.button("account.fiscalyear", "create_period", [fiscal_year])


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return day.replace(year=index // 12, month=index % 12 + 1)


# -- what the ERP's staff do ----------------------------------------------------------


def _storage_location(client: TrytonClient) -> int:
    (storage,) = client.search("stock.location", [("code", "=", "STO")], limit=1)
    return storage


def add_stock(client: TrytonClient, quantities: Sequence[tuple[int, float]]) -> None:
    """Add ``(product id, quantity)`` pairs to the main warehouse's storage with one inventory.

    An inventory records a count, so each line counts what is there plus the quantity.
    """
    storage = _storage_location(client)
    ids = [product for product, _ in quantities]
    levels = client.read("product.product", ids, ["quantity"], context={"locations": [storage]})
    on_hand = {row["id"]: float(row["quantity"]) for row in levels}
    lines = [
        {"product": product, "quantity": on_hand[product] + float(quantity)}
        for product, quantity in quantities
    ]
    (inventory,) = client.create(
        "stock.inventory", [{"location": storage, "lines": [("create", lines)]}]
    )
    client.button("stock.inventory", "confirm", [inventory])


def ship(
    client: TrytonClient, shipment_id: int, *, until: Literal["pick", "pack", "do"] = "do"
) -> None:
    """Move a customer shipment through pick, pack and (unless ``until`` says otherwise) do."""
    steps = ("pick", "pack", "do")
    for step in steps[: steps.index(until) + 1]:
        client.button("stock.shipment.out", step, [shipment_id])


def receive_return(client: TrytonClient, return_id: int, *, done: bool = True) -> None:
    """Receive a customer return shipment and, when ``done``, put the goods back in stock."""
    client.button("stock.shipment.out.return", "receive", [return_id])
    if done:
        client.button("stock.shipment.out.return", "do", [return_id])


def run_production(
    client: TrytonClient,
    production_id: int,
    *,
    until: Literal["draft", "wait", "assign_force", "run", "do"] = "do",
) -> None:
    """Take a requested production through draft, wait, assign, run and (by default) do."""
    steps = ("draft", "wait", "assign_force", "run", "do")
    for step in steps[: steps.index(until) + 1]:
        client.button("production", step, [production_id])


def pay_invoice(client: TrytonClient, invoice_id: int, amount: Decimal) -> None:
    """Record a cash payment of ``amount`` on a posted invoice (partial when less than due)."""
    (method,) = client.search(
        "account.invoice.payment.method", [("name", "=", TEMPLATE_PAYMENT_METHOD)], limit=1
    )
    start = client.run_wizard(
        "account.invoice.pay", model="account.invoice", ids=[invoice_id], steps=[("start", {})]
    )
    form = {
        **start.defaults,
        "amount": amount,
        "payment_method": method,
        "date": dt.date.today(),
        "description": "payment",
    }
    answer = client.run_wizard(
        "account.invoice.pay",
        model="account.invoice",
        ids=[invoice_id],
        steps=[("choice", {"start": form})],
    )
    if answer.state == "ask":
        client.run_wizard(
            "account.invoice.pay",
            model="account.invoice",
            ids=[invoice_id],
            steps=[("pay", {"start": form, "ask": {**answer.defaults, "type": "partial"}})],
        )


# -- pytest fixtures ------------------------------------------------------------------


def require_trytond() -> None:
    """Skip the calling test when trytond or one of its modules is missing; fail under CI.

    Under ``CI=true`` a missing ERP must fail the run, never turn it green by skipping.
    """
    if trytond_version() is None:
        reason = "trytond is not installed"
    elif missing := _missing_modules():
        reason = "missing " + ", ".join(missing)
    else:
        return
    message = f"Tryton is not available: {reason}; run scripts/setup-tryton.sh"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def tryton_template() -> Path:
    """Build (or reuse from the cache) the template database once per test session."""
    require_trytond()
    return build_template()


@pytest.fixture
def tryton_server(tryton_template: Path, tmp_path: Path) -> Iterator[TrytonServer]:
    """Serve a fresh copy of the template database for one test; stop it afterwards."""
    with run_server(tryton_template, tmp_path / "tryton") as server:
        yield server


@pytest.fixture
def tryton_client(tryton_server: TrytonServer) -> Iterator[TrytonClient]:
    """A client logged in as the administrator of the test's server."""
    with httpx.Client(timeout=60.0) as http:
        client = tryton_server.client(http)
        client.login()
        yield client
