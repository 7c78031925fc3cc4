-- One account snapshot (every grid together).
INSERT OR REPLACE INTO live_account
    (ts, capital, equity, realized, unrealized, fees, funding, grid_profit, notional,
     worst_notional, exposure, daily_max, drawdown, stopped, n_grids, n_trading, wallet_equity,
     wallet_available)
VALUES ($ts, $capital, $equity, $realized, $unrealized, $fees, $funding, $grid_profit,
        $notional, $worst_notional, $exposure, $daily_max, $drawdown, $stopped, $n_grids,
        $n_trading, $wallet_equity, $wallet_available);
