-- Totals over the stored executions, one row per symbol.
SELECT symbol,
       count(*) FILTER (WHERE exec_type = 'Trade')                        AS n_fills,
       count(*) FILTER (WHERE grid_profit <> 0)                           AS n_round_trips,
       coalesce(sum(grid_profit), 0)                                      AS grid_profit,
       coalesce(sum(fee) FILTER (WHERE exec_type = 'Trade'), 0)           AS fees,
       coalesce(sum(fee) FILTER (WHERE exec_type = 'Funding'), 0)         AS funding,
       max(exec_time)                                                     AS last_fill
FROM live_fills
GROUP BY symbol
ORDER BY symbol;
