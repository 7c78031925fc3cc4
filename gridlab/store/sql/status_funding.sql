-- One row per symbol: span and counts (the gaps are judged in Python against the instrument's
-- funding interval: gridlab.data.status, gridlab.data.funding).
SELECT symbol, min(ts) AS first, max(ts) AS last, count(*) AS n, count(DISTINCT ts) AS n_distinct
FROM funding
GROUP BY symbol
ORDER BY symbol;
