-- Strategy profiles, versioned: a new version is written only when the parameters change.
-- params holds the profile definition without name and note (see gridlab/store/profiles.py).

CREATE TABLE profiles (
    name       VARCHAR NOT NULL,
    version    INTEGER NOT NULL,
    params     JSON    NOT NULL,
    created_at BIGINT  NOT NULL,   -- epoch milliseconds (UTC)
    note       VARCHAR NOT NULL DEFAULT '',
    PRIMARY KEY (name, version)
);
