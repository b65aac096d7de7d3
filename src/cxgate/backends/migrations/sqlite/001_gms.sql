-- GMS services and Storage API areas, their keys, and access-number reservations.
CREATE TABLE areas (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    label TEXT NOT NULL,
    owner TEXT,
    ttl INTEGER NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE INDEX areas_expires_at ON areas (expires_at);

CREATE TABLE area_values (
    kind TEXT NOT NULL,
    area_id TEXT NOT NULL,
    key TEXT NOT NULL,
    text_value TEXT,          -- a string value, or NULL for a binary one
    data BLOB,                -- a binary value's bytes
    content_type TEXT,
    filename TEXT,
    PRIMARY KEY (kind, area_id, key),
    FOREIGN KEY (kind, area_id) REFERENCES areas (kind, id) ON DELETE CASCADE
) WITHOUT ROWID;

-- code '' means "held without a code": the number then belongs to one service at a time.
CREATE TABLE reservations (
    number TEXT NOT NULL,
    code TEXT NOT NULL,
    service_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (number, code)
);
CREATE INDEX reservations_service ON reservations (service_id);
CREATE INDEX reservations_recent ON reservations (number, created_at);
CREATE INDEX reservations_expires_at ON reservations (expires_at);
