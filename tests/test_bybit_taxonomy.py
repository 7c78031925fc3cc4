"""The error taxonomy: one table in code, the same table in docs/live.md, and the typed errors
following its actions per endpoint."""

from __future__ import annotations

import re
from pathlib import Path

from gridlab.bybit.errors import (
    AccountStop,
    AmbiguousError,
    AuthError,
    BybitError,
    DuplicateOrderLinkId,
    IpRateLimited,
    RateLimited,
    RetryableError,
    TransientError,
    error_from_code,
)
from gridlab.bybit.taxonomy import HALT_CODES, RULES, Action, classify, markdown_table, rule_of

DOCS = Path(__file__).resolve().parents[1] / "docs" / "live.md"
CREATE, READ, CANCEL, LEV = ("/v5/order/create", "/v5/order/realtime", "/v5/order/cancel",
                             "/v5/position/set-leverage")


def test_docs_table_agrees_with_the_code() -> None:
    text = DOCS.read_text()
    m = re.search(r"<!-- taxonomy:begin -->\n(.*?)<!-- taxonomy:end -->", text, re.S)
    assert m is not None, "docs/live.md lost its taxonomy markers"
    assert m.group(1) == markdown_table(), ("docs/live.md's error table differs from "
                                            "gridlab/bybit/taxonomy.py: regenerate it with "
                                            "python -m gridlab.bybit.taxonomy")


def test_each_failure_has_one_rule() -> None:
    keys = [r.key for r in RULES]
    assert len(keys) == len(set(keys))
    assert {"timeout", "connection", "HTTP 5xx", "HTTP 403", "10000", "10006", "10016",
            "110043", "110072"} <= set(keys)


def test_ambiguous_only_where_an_order_is_created() -> None:
    for code in (10000, 10016, 503, "timeout", "connection"):
        assert classify(code, CREATE) is Action.AMBIGUOUS
        assert classify(code, "/v5/order/create-batch") is Action.AMBIGUOUS
        assert classify(code, READ) is Action.RETRY
        assert classify(code, CANCEL) is Action.RETRY
    assert classify(10006, CREATE) is Action.RETRY and classify(403, READ) is Action.RETRY


def test_cancel_of_a_gone_order_and_leverage_refusals_continue() -> None:
    for code in (110001, 110008, 110010, 170213, 170142):
        assert classify(code, CANCEL) is Action.CONTINUE
        assert classify(code, "/v5/order/amend") is Action.REFUSE
    for code in (110043, 110038, 100028, 110036, 110013):
        assert classify(code, LEV) is Action.CONTINUE
    assert classify(100028, READ) is Action.STOP  # elsewhere the key cannot be used
    assert classify(110038, CREATE) is Action.REFUSE


def test_unlisted_codes_are_refusals_and_stops_are_stops() -> None:
    assert classify(987654, CREATE) is Action.REFUSE and rule_of(987654) is None
    for code in (10003, 10004, 10005, 10007, 10010, 10024, 10027, 33004, 170201):
        assert classify(code, CREATE) is Action.STOP
    assert {110023, 110063, 110066, 170151} <= HALT_CODES and 110007 not in HALT_CODES


def test_error_classes_follow_the_action() -> None:
    amb = error_from_code(10016, "Server error", CREATE)
    assert isinstance(amb, AmbiguousError) and isinstance(amb, TransientError)
    assert amb.action is Action.AMBIGUOUS and amb.maybe_processed
    read = error_from_code(10016, "Server error", READ)
    assert isinstance(read, RetryableError) and read.action is Action.RETRY
    assert isinstance(error_from_code(10000, "Server Timeout", CREATE), AmbiguousError)
    assert type(error_from_code(10007, "auth", READ)) is AccountStop
    assert isinstance(error_from_code(10003, "key", READ), AuthError)
    assert isinstance(error_from_code(10003, "key", READ), AccountStop)
    assert type(error_from_code(10018, "ip", READ)) is IpRateLimited
    assert isinstance(error_from_code(10006, "busy", CREATE), RateLimited)
    assert error_from_code(110038, "pm", LEV).action is Action.CONTINUE
    assert isinstance(error_from_code(170141, "dup", CREATE), DuplicateOrderLinkId)
    odd = error_from_code(987654, "odd", CREATE)
    assert type(odd) is BybitError and odd.action is Action.REFUSE
    assert not isinstance(odd, TransientError)
