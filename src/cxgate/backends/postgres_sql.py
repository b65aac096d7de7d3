"""The SQL statements of the PostgreSQL store (`postgres.py`).

Every parameter is cast where its type could be guessed wrong, and every time is a parameter
holding the injected clock's epoch seconds: SQL `now()` would ignore that clock. (The one `now()`
dates a migration in `schema_migrations`, a wall-clock record for operators.)
"""

from __future__ import annotations

COLUMNS = "kind, id, label, owner, ttl, expires_at"
# $1 kind, $2 id, $3 now, $4 the caller's gms_user: a live area that the caller may see.
VISIBLE = (
    "a.kind = $1::text AND a.id = $2::text AND a.expires_at > $3::double precision "
    "AND (a.owner IS NULL OR a.owner = $4::text)"
)
# A new area, or one taking over an expired area with the same id. A live area is left alone and
# no row comes back; ON CONFLICT still locks that row, so the caller may update it next.
CLAIM = f"""
    INSERT INTO areas AS a ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (kind, id) DO UPDATE SET label = excluded.label, owner = excluded.owner,
        ttl = excluded.ttl, expires_at = excluded.expires_at
    WHERE a.expires_at <= $7::double precision
    RETURNING {COLUMNS}"""
# Restart the TTL of a visible area ($5: a new ttl, or NULL to keep the area's own).
TOUCH = f"""
    UPDATE areas AS a SET ttl = COALESCE($5::integer, a.ttl),
        expires_at = $3::double precision + COALESCE($5::integer, a.ttl)
    WHERE {VISIBLE}
    RETURNING {COLUMNS}"""
# A custom id is claimed by its owner only: an anonymous or foreign area under it is not theirs.
TOUCH_OWNED = TOUCH.replace("(a.owner IS NULL OR a.owner = $4::text)", "a.owner = $4::text")
INFO = f"SELECT {COLUMNS} FROM areas AS a WHERE {VISIBLE}"
# The area check and its keys in one statement, hence one snapshot: they cannot disagree.
READ_STRINGS = f"""
    SELECT v.key, v.text_value FROM areas AS a LEFT JOIN area_values AS v
        ON v.kind = a.kind AND v.area_id = a.id AND v.text_value IS NOT NULL
    WHERE {VISIBLE}"""
READ_VALUE = f"""
    SELECT v.key IS NOT NULL, v.text_value, v.data, v.content_type, v.filename
    FROM areas AS a LEFT JOIN area_values AS v
        ON v.kind = a.kind AND v.area_id = a.id AND v.key_hash = $5
    WHERE {VISIBLE}"""
# The foreign key cascades to the area's values within this one statement.
DELETE_AREA = f"DELETE FROM areas AS a WHERE {VISIBLE} RETURNING a.id"
PUT_VALUE = """
    INSERT INTO area_values (kind, area_id, key_hash, key, text_value, data, content_type, filename)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (kind, area_id, key_hash) DO UPDATE SET key = excluded.key,
        text_value = excluded.text_value, data = excluded.data,
        content_type = excluded.content_type, filename = excluded.filename"""
CLEAR_VALUES = "DELETE FROM area_values WHERE kind = $1 AND area_id = $2"
DELETE_VALUES = CLEAR_VALUES + " AND key_hash = ANY($3::bytea[])"

HELD = "number, code, service_id, created_at, expires_at"
# The primary key (number, code) makes a second holder impossible; an expired holder is
# overwritten by the same statement.
RESERVE = f"""
    INSERT INTO reservations AS r ({HELD}) VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (number, code) DO UPDATE SET service_id = excluded.service_id,
        created_at = excluded.created_at, expires_at = excluded.expires_at
    WHERE r.expires_at <= $6::double precision
    RETURNING r.number"""
TAKE_CODE = f"""
    DELETE FROM reservations
    WHERE number = $1 AND code = $2 AND expires_at > $3::double precision
    RETURNING {HELD}"""
# SKIP LOCKED: simultaneous takes each lock a different row instead of queueing on the newest one
# and then finding it gone.
TAKE_NEWEST = f"""
    DELETE FROM reservations WHERE (number, code) = (
        SELECT number, code FROM reservations
        WHERE number = $1 AND expires_at > $2::double precision
        ORDER BY created_at DESC LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING {HELD}"""
MIGRATIONS_TABLE = """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL
    )"""
SCHEMA_EXISTS = "SELECT true FROM pg_namespace WHERE nspname = $1"
RECORD_MIGRATION = "INSERT INTO schema_migrations VALUES ($1, $2, now())"

GET_FLAG = "SELECT value FROM flags WHERE name = $1"
SET_FLAG = """
    INSERT INTO flags (name, value) VALUES ($1, $2)
    ON CONFLICT (name) DO UPDATE SET value = excluded.value"""
