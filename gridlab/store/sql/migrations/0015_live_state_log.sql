-- Grid states a replay can start from (the live audit): a runner writes each grid's state
-- (the one written to live_state under state_key, with its bar ring) when a session starts,
-- after its restore and reconciliation and before its first print, and at every equity
-- snapshot. `ts` is the market time of the last print the state has seen (-1: none yet).
CREATE TABLE live_state_log (
    state_key   VARCHAR NOT NULL,
    symbol      VARCHAR NOT NULL,
    ts          BIGINT  NOT NULL,
    kind        VARCHAR NOT NULL,   -- start | snapshot
    recorded_at BIGINT  NOT NULL,   -- wall clock, epoch ms
    value       JSON    NOT NULL,   -- the grid state (TradingCore.state)
    bars        JSON,               -- its bar ring (NULL: none)
    PRIMARY KEY (state_key, recorded_at, kind)
);

-- Live audits (research store): where the replay started. start_kind flat (no logged state:
-- a flat start), start (a session's first state) or snapshot; start_position the position
-- that state held.
ALTER TABLE live_audits ADD COLUMN start_kind VARCHAR NOT NULL DEFAULT 'flat';
ALTER TABLE live_audits ADD COLUMN start_position DOUBLE NOT NULL DEFAULT 0;
