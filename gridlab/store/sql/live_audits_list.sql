SELECT audit_id, runner, symbol, start_ms, end_ms, fill_model, latency_ms, params_hash, n_trades,
       n_gaps, matched, missed, extra, gap, match_rate, pnl, created_at, start_kind,
       start_position
FROM live_audits WHERE $runner IS NULL OR runner = $runner
ORDER BY audit_id DESC LIMIT $limit;
