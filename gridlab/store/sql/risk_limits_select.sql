SELECT tier, risk_limit_value, mmr, imr, mm_deduction, max_leverage, fetched_at
FROM risk_limits WHERE symbol = $symbol AND category = $category ORDER BY tier;
