-- Totals over the stored executions, of one symbol or all ($symbol NULL).
SELECT count(*) FILTER (WHERE exec_type = 'Trade')                        AS n_fills,
       count(*) FILTER (WHERE grid_profit <> 0)                           AS n_round_trips,
       coalesce(sum(grid_profit), 0)                                      AS grid_profit,
       coalesce(sum(fee) FILTER (WHERE exec_type = 'Trade'), 0)           AS fees,
       coalesce(sum(fee) FILTER (WHERE exec_type = 'Funding'), 0)         AS funding,
       coalesce(sum(qty * price) FILTER (WHERE exec_type = 'Trade'), 0)   AS turnover,
       max(exec_time)                                                     AS last_fill
FROM live_fills
WHERE $symbol IS NULL OR symbol = $symbol;
