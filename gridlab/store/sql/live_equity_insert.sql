-- One equity snapshot of one grid.
INSERT OR REPLACE INTO live_equity
    (ts, symbol, price, equity, position, realized, unrealized, fees, funding, grid_profit,
     exposure, wallet_equity, wallet_available)
VALUES ($ts, $symbol, $price, $equity, $position, $realized, $unrealized, $fees, $funding,
        $grid_profit, $exposure, $wallet_equity, $wallet_available);
