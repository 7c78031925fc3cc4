-- Risk-limit tiers per instrument (Bybit /v5/market/risk-limit), replaced whole per symbol.
-- Rates are fractions (0.005 = 0.5 %); mm_deduction derived when Bybit leaves it blank.
CREATE TABLE risk_limits (
    symbol           VARCHAR NOT NULL,
    category         VARCHAR NOT NULL,
    tier             INTEGER NOT NULL,   -- 1 = lowest risk limit
    risk_limit_value DOUBLE  NOT NULL,
    mmr              DOUBLE  NOT NULL,
    imr              DOUBLE  NOT NULL,
    mm_deduction     DOUBLE  NOT NULL,
    max_leverage     DOUBLE  NOT NULL,
    fetched_at       BIGINT  NOT NULL,   -- epoch ms
    PRIMARY KEY (symbol, category, tier)
);
