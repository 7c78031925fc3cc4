"""Secrets are redacted: a secret fed into a log line, an exception (its traceback) and an API
error (the exchange quoting it in a refusal) reaches neither the log nor the live store."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from gridlab.fakex.handle import FakeExchange
from live.redact import MASK
from live.runner import LiveRunner
from tests.live_helpers import RunnerThread, local_config

pytest_plugins = ["tests.fakex_fixtures"]

SYM = "BTCUSDT"
T0 = 1_700_000_040_000


def test_a_secret_in_a_log_line_an_exception_and_an_api_error_is_redacted(
        fake_exchange: FakeExchange, tmp_path: Path) -> None:
    fx = fake_exchange
    fx.engine.set_funding_rate(SYM, 0.0)
    secret = fx.api_secret
    assert len(secret) >= 8
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    root = logging.getLogger()
    root.addHandler(handler)  # the runner installs its redactor on the root's handlers
    level = root.level
    root.setLevel(logging.INFO)
    cfg = local_config(fx, tmp_path / "live", live={"order_poll_s": 600})
    runner = LiveRunner(cfg, credentials=fx.credentials, install_signals=False)
    rt = RunnerThread(runner).start()
    log = logging.getLogger("gridlab.live")
    try:
        fx.engine.trade(SYM, 60_000.0, ts=T0)
        rt.settle(fx, T0)
        # 1. a log line
        log.warning("a log line with the secret %s inside", secret)
        # 2. an exception and its traceback
        try:
            raise RuntimeError(f"an exception quoting {secret}")
        except RuntimeError:
            log.exception("a step failed")
        # 3. an API error: the exchange refuses the next order quoting the secret
        fx.faults.reject_orders(count=1, code=110007, msg=f"an API error quoting {secret}")
        fx.engine.trade(SYM, 59_850.0, side=-1, ts=T0 + 1000)  # a buy fills: its counter order
        rt.settle(fx, T0 + 1000)
        rt.wait(lambda: runner.core is not None and runner.core.stats["orders_refused"] >= 1,
                10, "the refusal")
        events = runner.store.events(1000)
        fills = runner.store.fills(1000)
    finally:
        rt.stop()
        root.removeHandler(handler)
        root.setLevel(level)
    text = out.getvalue()
    for said in ("a log line with the secret ***", "an exception quoting ***",
                 "an API error quoting ***"):
        assert said in text, said
    assert "Traceback" in text  # the exception was logged with its traceback, redacted
    assert secret not in text
    refused = events[events["kind"] == "order_refused"]
    assert len(refused) == 1 and MASK in refused["message"].iloc[0]
    stored = events.astype(str).to_string() + fills.astype(str).to_string()
    assert secret not in stored
