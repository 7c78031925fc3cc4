INSERT INTO live_audits (runner, symbol, start_ms, end_ms, fill_model, latency_ms, params_hash,
                         n_trades, n_gaps, matched, missed, extra, gap, match_rate, pnl,
                         created_at, start_kind, start_position)
VALUES ($runner, $symbol, $start_ms, $end_ms, $fill_model, $latency_ms, $params_hash,
        $n_trades, $n_gaps, $matched, $missed, $extra, $gap, $match_rate, $pnl, $created_at,
        $start_kind, $start_position)
RETURNING audit_id;
