-- One equity snapshot.
INSERT OR REPLACE INTO live_equity
    (ts, price, equity, position, realized, unrealized, fees, funding, grid_profit, exposure,
     wallet_equity, wallet_available)
VALUES ($ts, $price, $equity, $position, $realized, $unrealized, $fees, $funding, $grid_profit,
        $exposure, $wallet_equity, $wallet_available);
