-- The live tape: every public trade a runner received for its symbols, and the spans where
-- the tape is known to be incomplete (stream drops, restarts), so that a replay of it (the
-- live audit) knows which spans it can judge.
CREATE TABLE live_tape (
    symbol   VARCHAR NOT NULL,
    ts       BIGINT  NOT NULL,   -- trade time, epoch ms
    price    DOUBLE  NOT NULL,
    size     DOUBLE  NOT NULL,
    side     TINYINT NOT NULL,   -- aggressor: 1 buy / -1 sell
    trade_id VARCHAR NOT NULL,
    PRIMARY KEY (symbol, trade_id)
);

CREATE TABLE live_tape_gaps (
    symbol      VARCHAR NOT NULL,
    start_ts    BIGINT  NOT NULL,   -- last trade time known before the gap
    end_ts      BIGINT  NOT NULL,   -- first trade time known after it
    reason      VARCHAR NOT NULL,   -- stream_drop | restart | ...
    recorded_at BIGINT  NOT NULL,
    PRIMARY KEY (symbol, start_ts, end_ts)
);
