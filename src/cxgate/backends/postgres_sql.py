"""The SQL statements of the PostgreSQL store (`postgres.py`).

Every parameter is cast where its type could be guessed wrong, and every time is a parameter
holding the injected clock's epoch seconds: SQL `now()` would ignore that clock. (The one `now()`
dates a migration in `schema_migrations`, a wall-clock record for operators.)
"""

from __future__ import annotations

# The CHECK of `area_key_counts` that `[server] max_area_keys` trips
# (migrations/postgres/003_area_key_limit.sql).
KEY_LIMIT_CONSTRAINT = "area_key_limit"
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
_VALUE_COLUMNS = "kind, area_id, key_hash, key, text_value, data, content_type, filename"
_VALUE_UPSERT = """
    ON CONFLICT (kind, area_id, key_hash) DO UPDATE SET key = excluded.key,
        text_value = excluded.text_value, data = excluded.data,
        content_type = excluded.content_type, filename = excluded.filename"""
_UNNEST_VALUES = """unnest(
            {}::bytea[], {}::bytea[], {}::bytea[], {}::bytea[], {}::text[], {}::text[]) AS n"""


def _new_values(first: int) -> str:
    """The values to store as rows: one array per column from parameter `$first` on (key hashes,
    keys, string values, binary data, content types, file names), one element per key."""
    return _UNNEST_VALUES.format(*(f"${first + i}" for i in range(6)))


# `(xmax = 0)`: the row was inserted, not an existing key replaced.
_ADDED = "RETURNING (xmax = 0) AS added"


def _count_added(kind_and_id: str, source: str, key_limit: int) -> str:
    """The upsert of an area's key count by the rows `put` added, with the limit `$key_limit`
    (`kind_and_id`: the area's two columns, selected `source`)."""
    return f"""
    INSERT INTO area_key_counts AS c (kind, area_id, keys, key_limit)
    SELECT {kind_and_id}, (SELECT count(*) FROM put WHERE added), ${key_limit}::integer {source}
    ON CONFLICT (kind, area_id) DO UPDATE
        SET keys = c.keys + excluded.keys, key_limit = excluded.key_limit"""


# $1 kind, $2 area id, then the value arrays, then the key limit ($9).
PUT_VALUES = f"""
    WITH put AS (
        INSERT INTO area_values ({_VALUE_COLUMNS}) SELECT $1, $2, n.* FROM {_new_values(3)}
        {_VALUE_UPSERT} {_ADDED})
    {_count_added("$1::text, $2::text", "", 9)}"""


def _with_values(area: str, first: int) -> str:
    """One statement: `area` (an INSERT or UPDATE of `areas` returning COLUMNS), then the values
    (`_new_values(first)`) written into the area it returned, and its key count moved (the key
    limit is parameter `first + 6`); it returns that area's row. When `area` returns no row,
    nothing is written.

    Only an upsert of values goes into such a statement: ON CONFLICT checks the latest committed
    rows, whereas a DELETE or UPDATE of values would scan the statement's snapshot and miss a
    value that another writer committed while this statement waited for the area's row lock."""
    return f"""
    WITH area AS ({area}),
    put AS (
        INSERT INTO area_values ({_VALUE_COLUMNS})
        SELECT area.kind, area.id, n.* FROM area, {_new_values(first)}
        {_VALUE_UPSERT} {_ADDED}),
    counted AS ({_count_added("area.kind, area.id", "FROM area", first + 6)})
    SELECT {COLUMNS} FROM area"""


# write(create=False) in one statement: TOUCH ($1..$5), then the values; no row: AreaNotFound.
TOUCH_WITH_VALUES = _with_values(TOUCH, 6)
# create(), one statement for the usual case, a new id: the area and its values, or no row when
# the id is taken (live or expired: the caller then takes the two-step path, CLAIM).
# $1..$6 as COLUMNS, then the value arrays.
CREATE_WITH_VALUES = _with_values(
    f"""INSERT INTO areas ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (kind, id) DO NOTHING RETURNING {COLUMNS}""",
    7,
)
# write(create=True), one statement for a new id or a live area of the caller's ($4; never an
# anonymous or foreign one): the first is created ($6: its ttl), the second touched as TOUCH
# does ($5: a new ttl or NULL). No row: the id is expired or someone else's (two-step path).
CLAIM_OWNED_WITH_VALUES = _with_values(
    f"""INSERT INTO areas AS a ({COLUMNS})
        VALUES ($1, $2, '', $4, $6, $3::double precision + $6::integer)
        ON CONFLICT (kind, id) DO UPDATE SET ttl = COALESCE($5::integer, a.ttl),
            expires_at = $3::double precision + COALESCE($5::integer, a.ttl)
        WHERE a.expires_at > $3::double precision AND a.owner = $4::text
        RETURNING {COLUMNS}""",
    7,
)
# Deleting values moves the count down by the rows that went.
_UNCOUNT = """
    UPDATE area_key_counts SET keys = keys - (SELECT count(*) FROM gone)
    WHERE kind = $1 AND area_id = $2"""
CLEAR_VALUES = f"""
    WITH gone AS (DELETE FROM area_values WHERE kind = $1 AND area_id = $2 RETURNING 1)
    {_UNCOUNT}"""
DELETE_VALUES = f"""
    WITH gone AS (
        DELETE FROM area_values
        WHERE kind = $1 AND area_id = $2 AND key_hash = ANY($3::bytea[]) RETURNING 1)
    {_UNCOUNT}"""

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
