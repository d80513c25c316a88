"""The Odoo client: settings, version profiles, and how every failure is classified."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from core.errors import PermanentError, TransientError
from erp.odoo.client import OdooClient, OdooServerError, OdooSettings, profile_for
from tests.erp.odoo.replay import recorded

UTC = dt.UTC


def test_settings_build_a_client_for_the_configured_version() -> None:
    settings = OdooSettings(
        url="http://odoo.test/",
        database="crm",
        login="sync@example.com",
        api_key="key-123",
        version=18,
    )
    with httpx.Client() as http:
        client = OdooClient.from_settings(settings, http)
    assert client.version == 18
    assert client.profile.return_method == "action_create_returns"


def test_version_profiles_name_the_fields_that_differ() -> None:
    assert profile_for(16).product_type_field == "detailed_type"
    assert profile_for(16).move_reserved_field == "reserved_availability"
    assert profile_for(16).production_start_field == "date_planned_start"
    assert profile_for(17).move_reserved_field == "quantity"
    assert profile_for(17).production_finish_field == "date_finished"
    assert profile_for(17).return_method == "create_returns"
    assert profile_for(18).goods_values == {"type": "consu", "is_storable": True}
    with pytest.raises(PermanentError, match=r"odoo\.version"):
        profile_for(15)


def test_refused_login_names_the_credential_settings() -> None:
    with (
        recorded("errors.json", "authenticate_refused") as odoo,
        pytest.raises(PermanentError, match=r"odoo\.database, odoo\.login and odoo\.api_key"),
    ):
        odoo.client.authenticate()


def test_access_denied_names_the_credential_settings() -> None:
    with (
        recorded("errors.json", "access_denied") as odoo,
        pytest.raises(OdooServerError, match=r"odoo\.api_key") as caught,
    ):
        odoo.client.search_read("res.partner", [("ref", "=", "cust-1001")], ["name"])
    assert caught.value.exception == "odoo.exceptions.AccessDenied"


def test_missing_access_rights_name_the_user_settings() -> None:
    with (
        recorded("errors.json", "access_rights") as odoo,
        pytest.raises(OdooServerError, match=r"odoo\.login") as caught,
    ):
        odoo.client.call("account.move", "action_post", [88])
    assert caught.value.odoo_message == "You don't have the access rights to post an invoice."


@pytest.mark.parametrize(
    ("flow", "exception"),
    [
        ("validation_error", "odoo.exceptions.ValidationError"),
        ("user_error", "odoo.exceptions.UserError"),
        ("missing_record", "odoo.exceptions.MissingError"),
        ("invalid_field", "builtins.ValueError"),
    ],
)
def test_odoo_refusals_are_permanent_with_odoos_message(flow: str, exception: str) -> None:
    calls = {
        "validation_error": lambda odoo: odoo.client.create(
            "res.partner", [{"name": "Pars Tejarat", "vat": "IR123"}]
        ),
        "user_error": lambda odoo: odoo.client.call("sale.order", "action_confirm", [79]),
        "missing_record": lambda odoo: odoo.client.read("sale.order", [999], ["state"]),
        "invalid_field": lambda odoo: odoo.client.search_read(
            "product.product", [("default_code", "in", ["SKU-1"])], ["detailed_type"]
        ),
    }
    with (
        recorded("errors.json", flow) as odoo,
        pytest.raises(OdooServerError) as caught,
    ):
        calls[flow](odoo)
    assert caught.value.exception == exception
    assert caught.value.odoo_message in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_serialization_failure_is_transient() -> None:
    with (
        recorded("errors.json", "serialization_failure") as odoo,
        pytest.raises(TransientError, match="concurrent update"),
    ):
        odoo.client.call("stock.picking", "action_assign", [31])


def test_missing_database_is_permanent_and_names_the_setting() -> None:
    with (
        recorded("errors.json", "database_missing") as odoo,
        pytest.raises(PermanentError, match=r"odoo\.database"),
    ):
        odoo.client.authenticate()


def test_http_503_is_transient_with_retry_after() -> None:
    with (
        recorded("errors.json", "http_503_retry_after") as odoo,
        pytest.raises(TransientError) as caught,
    ):
        odoo.client.read("sale.order", [77], ["state"])
    assert caught.value.retry_after == 120


def test_http_429_is_transient_with_retry_after() -> None:
    with (
        recorded("errors.json", "http_429") as odoo,
        pytest.raises(TransientError) as caught,
    ):
        odoo.client.read("sale.order", [77], ["state"])
    assert caught.value.retry_after == 30


def test_http_404_is_permanent_and_names_the_url() -> None:
    with (
        recorded("errors.json", "http_404") as odoo,
        pytest.raises(PermanentError, match=r"odoo\.url"),
    ):
        odoo.client.authenticate()


def test_an_html_page_is_permanent_and_names_the_url() -> None:
    with (
        recorded("errors.json", "not_json") as odoo,
        pytest.raises(PermanentError, match=r"odoo\.url"),
    ):
        odoo.client.authenticate()


def test_a_timeout_is_transient() -> None:
    with (
        recorded("errors.json", "read_timeout") as odoo,
        pytest.raises(TransientError, match="in time"),
    ):
        odoo.client.create(
            "sale.order", [{"partner_id": 42, "client_order_ref": "pf-5001", "order_line": []}]
        )


def test_a_login_refused_once_at_the_connection_is_tried_again_in_place() -> None:
    with recorded("errors.json", "connection_refused_once") as odoo:
        assert odoo.client.authenticate() == 7


def test_a_refused_connection_is_transient() -> None:
    with (
        recorded("errors.json", "connection_refused") as odoo,
        pytest.raises(TransientError, match="cannot reach Odoo"),
    ):
        odoo.client.authenticate()
