-- One row per symbol: span, counts, the usual funding step (mode) and gaps longer than it.
WITH d AS (
    SELECT symbol, ts, lead(ts) OVER (PARTITION BY symbol ORDER BY ts) - ts AS step
    FROM funding
),
m AS (SELECT symbol, coalesce(mode(step), 28800000) AS usual FROM d GROUP BY symbol)
SELECT d.symbol, any_value(m.usual) AS ms, min(d.ts) AS first, max(d.ts) AS last,
       count(*) AS n, count(DISTINCT d.ts) AS n_distinct,
       count(*) FILTER (WHERE d.step > m.usual) AS gaps,
       list([d.ts + m.usual, d.ts + d.step] ORDER BY d.step DESC, d.ts)
           FILTER (WHERE d.step > m.usual)[1:$top] AS top_gaps
FROM d JOIN m ON d.symbol = m.symbol
GROUP BY d.symbol
ORDER BY d.symbol;
