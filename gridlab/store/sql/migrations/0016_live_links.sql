-- Amended orders (live/moves.py): an order moved by an amend on a recenter keeps its
-- exchange orderLinkId but becomes slot `slot` of generation `gen`. One row per move,
-- written before the amend request leaves (write-ahead), so a restart maps the open order
-- and its executions back: an execution at `new_price` belongs to the new slot, one at any
-- other price to what the order was before (the generation it was amended out of).
CREATE TABLE live_links (
    order_link_id VARCHAR NOT NULL,  -- the exchange order's (unchanged) orderLinkId
    gen           INTEGER NOT NULL,  -- the generation it was moved into
    symbol        VARCHAR NOT NULL,
    slot          INTEGER NOT NULL,
    leg           VARCHAR NOT NULL,  -- o open | c close
    cycle         INTEGER NOT NULL,
    attempt       INTEGER NOT NULL,
    old_gen       INTEGER NOT NULL,  -- what it was before the move
    old_slot      INTEGER NOT NULL,
    old_leg       VARCHAR NOT NULL,
    old_cycle     INTEGER NOT NULL,
    old_attempt   INTEGER NOT NULL,
    old_price     DOUBLE  NOT NULL,
    new_price     DOUBLE  NOT NULL,
    new_qty       DOUBLE  NOT NULL,
    created_at    BIGINT  NOT NULL,
    PRIMARY KEY (order_link_id, gen)
);
