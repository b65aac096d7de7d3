-- GMS services and Storage API areas, their keys, and access-number reservations.
-- Times are epoch seconds from cxgate's clock (never now()), so every node agrees on expiry.
CREATE TABLE areas (
    kind text NOT NULL,
    id text NOT NULL,
    label text NOT NULL,
    owner text,
    ttl integer NOT NULL,
    expires_at double precision NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX areas_expires_at ON areas (expires_at);

-- Keys and string values are UTF-8 in bytea because a text column cannot hold U+0000. The key
-- is identified by its SHA-256: a btree entry is limited to ~2.7 kB, less than a long key.
CREATE TABLE area_values (
    kind text NOT NULL,
    area_id text NOT NULL,
    key_hash bytea NOT NULL,
    key bytea NOT NULL,
    text_value bytea,         -- a string value, or NULL for a binary one
    data bytea,               -- a binary value's bytes
    content_type text,
    filename text,
    PRIMARY KEY (kind, area_id, key_hash),
    FOREIGN KEY (kind, area_id) REFERENCES areas (kind, id) ON DELETE CASCADE
);

-- code '' means "held without a code": the number then belongs to one service at a time.
CREATE TABLE reservations (
    number text NOT NULL,
    code text NOT NULL,
    service_id text NOT NULL,
    created_at double precision NOT NULL,
    expires_at double precision NOT NULL,
    PRIMARY KEY (number, code)
);
CREATE INDEX reservations_service ON reservations (service_id);
CREATE INDEX reservations_recent ON reservations (number, created_at);
CREATE INDEX reservations_expires_at ON reservations (expires_at);
