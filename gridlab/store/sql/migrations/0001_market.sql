-- Market data: klines, trades, funding, instruments, and the log of ingested trade files.
-- Times are epoch milliseconds (UTC); prices and quantities DOUBLE.

CREATE TABLE klines (
    symbol    VARCHAR NOT NULL,
    category  VARCHAR NOT NULL,   -- linear | inverse | spot
    interval  VARCHAR NOT NULL,   -- Bybit spelling: 1 3 5 15 30 60 120 240 360 720 D W
    open_time BIGINT  NOT NULL,
    open      DOUBLE  NOT NULL,
    high      DOUBLE  NOT NULL,
    low       DOUBLE  NOT NULL,
    close     DOUBLE  NOT NULL,
    volume    DOUBLE  NOT NULL,
    turnover  DOUBLE  NOT NULL,
    PRIMARY KEY (symbol, category, interval, open_time)
);

-- Logical key (symbol, category, trade_id), enforced by the insert path (an anti-join over the
-- batch's time range) rather than an index: an ART index over hundreds of millions of text ids
-- costs gigabytes of memory and triples the insert time. `gridlab data status` counts duplicates.
CREATE TABLE trades (
    symbol   VARCHAR NOT NULL,
    category VARCHAR NOT NULL,
    ts       BIGINT  NOT NULL,
    price    DOUBLE  NOT NULL,
    size     DOUBLE  NOT NULL,
    side     VARCHAR NOT NULL,    -- Buy | Sell: the aggressor
    trade_id VARCHAR NOT NULL,
    seq      BIGINT  NOT NULL     -- order within the source day file (breaks ts ties)
);

CREATE TABLE funding (
    symbol VARCHAR NOT NULL,
    ts     BIGINT  NOT NULL,
    rate   DOUBLE  NOT NULL,
    PRIMARY KEY (symbol, ts)
);

CREATE TABLE instruments (
    symbol       VARCHAR NOT NULL,
    category     VARCHAR NOT NULL,
    tick_size    DOUBLE  NOT NULL,
    qty_step     DOUBLE  NOT NULL,
    min_qty      DOUBLE  NOT NULL,
    min_notional DOUBLE  NOT NULL,
    max_qty      DOUBLE  NOT NULL,
    fetched_at   BIGINT  NOT NULL,
    PRIMARY KEY (symbol, category)
);

-- One row per ingested trade file (or synthetic batch): what it covers and what it added.
CREATE TABLE trade_files (
    source      VARCHAR NOT NULL,  -- file name (no folder) or 'synthetic:<seed>'
    symbol      VARCHAR NOT NULL,
    category    VARCHAR NOT NULL,
    bytes       BIGINT  NOT NULL,
    cover_start BIGINT  NOT NULL,  -- the time span the file covers (a UTC day for Bybit dumps)
    cover_end   BIGINT  NOT NULL,  -- exclusive
    rows_read   BIGINT  NOT NULL,
    rows_added  BIGINT  NOT NULL,
    ingested_at BIGINT  NOT NULL,
    PRIMARY KEY (symbol, category, source, bytes)
);
