"""The recorded Odoo exchanges: documented JSON-RPC shapes, replayed strictly.

Matching is strict: the client's request body must equal the recorded request (after
JSON parsing), in order, and every recorded exchange must be used, so a change in what
the client sends fails the test that replays it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from erp.odoo.products import ProductData
from tests.erp.odoo.replay import recorded, recording_files

UTC = dt.UTC


ALL_FLOWS = [(file, flow) for file, data in recording_files().items() for flow in data["flows"]]


@pytest.mark.parametrize(("file", "flow"), ALL_FLOWS)
def test_recordings_follow_the_documented_json_rpc_shapes(file: str, flow: str) -> None:
    """Every recorded request is a JSON-RPC 'call' to /jsonrpc as the External API documents it."""
    recorded_flow = recording_files()[file]["flows"][flow]
    assert recorded_flow["version"] in (16, 17, 18)
    assert recorded_flow["exchanges"], "a flow records at least one exchange"
    for number, exchange in enumerate(recorded_flow["exchanges"], start=1):
        request = exchange["request"]
        assert set(request) == {"jsonrpc", "method", "params", "id"}
        assert (request["jsonrpc"], request["method"], request["id"]) == ("2.0", "call", number)
        params = request["params"]
        assert set(params) == {"service", "method", "args"}
        if params["service"] == "common":
            assert params["method"] == "authenticate"
            assert params["args"] == ["crm", "sync@example.com", "key-123", {}]
        else:
            assert (params["service"], params["method"]) == ("object", "execute_kw")
            args = params["args"]
            assert args[:3] == ["crm", 7, "key-123"]
            assert isinstance(args[3], str) and isinstance(args[4], str)
            assert not args[4].startswith("_"), "private methods cannot be called over RPC"
            assert isinstance(args[5], list)
            assert len(args) == 6 or (len(args) == 7 and isinstance(args[6], dict) and args[6])
        if "raise" in exchange:
            continue
        response = exchange["response"]
        if "json" in response:
            answer = response["json"]
            assert answer["jsonrpc"] == "2.0" and answer["id"] == number
            assert not ("result" in answer and "error" in answer)
            if "error" in answer:
                error = answer["error"]
                assert (error["code"], error["message"]) == (200, "Odoo Server Error")
                assert set(error["data"]) == {"name", "message", "arguments", "context", "debug"}


def test_a_changed_request_fails_the_replay() -> None:
    changed = ProductData(
        sku="SKU-LAPTOP-15",
        name="لپ‌تاپ ۱۵ اینچ",
        kind="goods",
        list_price=Decimal("12600000"),
        tax_ids=(5,),
    )
    with (
        pytest.raises(AssertionError, match="the client sent"),
        recorded("products.json", "update_price") as odoo,
    ):
        odoo.products.upsert_product(changed)
