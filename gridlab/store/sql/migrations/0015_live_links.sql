-- Link aliases of the live runner (gridlab.store.live_links). An order moved by amend keeps its
-- orderLinkId on the exchange, while the id names the grid generation and slot it was placed
-- for: each move of an order is one row saying which (gen, slot, leg, cycle, attempt) the
-- order stands for from that move on, at which price and qty (and the ones before it).
-- status: pending (written before the amend request leaves), done (amended, or kept as it
-- was), refused (the amend was refused or did not happen: the order keeps its previous key).
-- A fill of the order is attributed by its price (a PostOnly order fills at its own price):
-- to the newest version at that price, else to the key of the id itself.
CREATE TABLE live_links (
    order_link_id VARCHAR NOT NULL,
    version       INTEGER NOT NULL,           -- 1 for the first move of the order, then 2, ...
    symbol        VARCHAR NOT NULL,
    gen           INTEGER NOT NULL,           -- what the order stands for from this move on
    slot          INTEGER NOT NULL,
    leg           VARCHAR NOT NULL,
    cycle         INTEGER NOT NULL,
    attempt       INTEGER NOT NULL,
    price         DOUBLE  NOT NULL,           -- the order's price and qty after the move
    qty           DOUBLE  NOT NULL,
    from_price    DOUBLE  NOT NULL,           -- and before it
    from_qty      DOUBLE  NOT NULL,
    status        VARCHAR NOT NULL,           -- pending | done | refused
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    PRIMARY KEY (order_link_id, version)
);
