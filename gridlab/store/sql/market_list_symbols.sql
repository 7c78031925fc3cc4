-- Every (symbol, category) with any market data; funding has no category: shown as linear.
SELECT DISTINCT symbol, category FROM (
    SELECT symbol, category FROM klines
    UNION ALL SELECT symbol, category FROM trades
    UNION ALL SELECT symbol, category FROM instruments
    UNION ALL SELECT symbol, 'linear' FROM funding
)
ORDER BY symbol, category;
