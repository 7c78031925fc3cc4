-- One exchange position snapshot.
INSERT OR REPLACE INTO live_positions
    (ts, symbol, size, avg_price, mark_price, unrealised_pnl, cum_realised_pnl, leverage,
     liq_price, ledger_position)
VALUES ($ts, $symbol, $size, $avg_price, $mark_price, $unrealised_pnl, $cum_realised_pnl,
        $leverage, $liq_price, $ledger_position);
