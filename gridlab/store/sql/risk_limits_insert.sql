INSERT INTO risk_limits
SELECT CAST(symbol AS VARCHAR), CAST(category AS VARCHAR), CAST(tier AS INTEGER),
       CAST(risk_limit_value AS DOUBLE), CAST(mmr AS DOUBLE), CAST(imr AS DOUBLE),
       CAST(mm_deduction AS DOUBLE), CAST(max_leverage AS DOUBLE), CAST(fetched_at AS BIGINT)
FROM _gl_tiers;
