"""Model error of kline runs (kline backtest vs the trade replay of its span), for notebooks.

The implementation is `gridlab.backtest.model_error` (the `backtest` command prints it, and
gridlab.backtest must not import gridlab.research); this module re-exports it.
"""

from gridlab.backtest.model_error import (
    COVER_SLACK_MS,
    HEADLINE,
    MODEL_ERROR_KEY,
    MODEL_ERROR_METRICS,
    ModelError,
    backtest_with_model_error,
    compare_runs,
    is_kline_run,
    kline_model_error,
    model_error_payload,
    no_trades_line,
    payload_lines,
)

__all__ = ["COVER_SLACK_MS", "HEADLINE", "MODEL_ERROR_KEY", "MODEL_ERROR_METRICS", "ModelError",
           "backtest_with_model_error", "compare_runs", "is_kline_run", "kline_model_error",
           "model_error_payload", "no_trades_line", "payload_lines"]
