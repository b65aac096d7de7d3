"""Context Services: the customer query's latency with 10,000 to 10,000,000 services stored.

    .venv/bin/python -m bench.journey_scale       # SQLite: 10k, 1M; PostgreSQL: 10k, 1M, 10M
    .venv/bin/python -m bench.journey_scale --backends postgres --postgres-sizes 10000,1000000

For each store and size: create the schema with cxgate's own migrations (the journey store's
`open()`), drop the secondary indexes of `cs_services`, bulk-load the rows directly in SQL
(PostgreSQL: `INSERT ... SELECT ... FROM generate_series`, a million rows per transaction;
SQLite: `executemany` in transactions of 100,000 rows), rebuild the indexes from the definitions
read back before the drop (and check they came back identical), ANALYZE on PostgreSQL (as its
autovacuum would after such a load; cxgate never runs ANALYZE on SQLite, so neither does this)
and start one `cxgate serve` worker on it. Each size has its own store (a SQLite file, or the
PostgreSQL schema `<schema of --postgres-url>_<size>`: bench_cs_10k, bench_cs_1m, bench_cs_10m),
so that once all are loaded the sizes are measured in interleaved rounds: a change in the load
of this shared machine then hits every size alike instead of passing for an effect of size.
Each round loads `GET /genesys/1/cs/customers/{id}/services` with wrk at 1 connection (the
query's own latency) and at 64 (under load), cycling over 200 customers of 5 services each,
spread over 40 tenants. Every store is dropped at the end, whatever happens.

The data: services started over the last 13 days in time order (as they would have arrived),
expiring 14 days after their start; 80 % identified, with about 3 services per customer
(customers = size / 3), 20 % anonymous (a contact key only); 40 tenants (`ContactCenterId`),
one customer in ten in the group `sales`; 85 % completed; 8 service types; event and attached
data as cxgate writes them. Only `cs_services` is loaded: the customer query does not read
`cs_states` / `cs_tasks` unless asked for them.

The criterion: at 1 connection, the median over the rounds of the p99 at the largest size is at
most 1.5x that at the smallest. Also recorded: the query plan (EXPLAIN ANALYZE, and the generic
plan, on PostgreSQL; EXPLAIN QUERY PLAN on SQLite) of the exact SQL the store runs, built by its
own query compiler, and the table and index sizes. When the estimated load of a size (from the
rate of the previous one) would overrun `--budget-minutes`, that size is skipped and the report
says so; nothing is extrapolated.

Results: bench/results/journey_scale.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from bench.journey import cxgate_executable, serve_argv
from bench.report import machine_info
from bench.servers import (
    BACKEND_COMMANDS,
    BenchError,
    ManagedProcess,
    ProcessSet,
    cpu_seconds,
    cpu_seconds_by_command,
    free_port,
    machine_cpu_ticks,
    store_cpu_delta,
    wait_ready,
)
from bench.wrk import MARKER, WrkError, ensure_wrk, lua_string, parse_output, wrk_version

RESULTS_DIR = Path(__file__).resolve().parent / "results"
HOST = "127.0.0.1"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test?schema=bench_cs"
SQLITE_SIZES = "10000,1000000"
POSTGRES_SIZES = "10000,1000000,10000000"
P99_LIMIT = 1.5  # p99 at the largest size / p99 at the smallest
QUERIED_CUSTOMERS = 200  # each with exactly SERVICES_PER_QUERIED services
SERVICES_PER_QUERIED = 5
TENANTS = 40
DAY_MS = 86_400_000
SPAN_MS = 13 * DAY_MS  # services started over the last 13 days ...
EXPIRY_MS = 14 * DAY_MS  # ... and expire 14 days after their start ([cs] expiration = 2w)
IDENTIFIED_PCT = 80
COMPLETED_PCT = 85
SERVICE_TYPES = ("billing", "support", "sales", "orders", "retention", "claims", "tech", "info")
POSTGRES_CHUNK = 1_000_000
SQLITE_CHUNK = 100_000
BYTES_PER_ROW_ESTIMATE = 1_000  # heap + indexes + WAL, generously, for the disk check


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.journey_scale", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--sqlite-sizes", default=SQLITE_SIZES, help="comma list of row counts")
    parser.add_argument("--postgres-sizes", default=POSTGRES_SIZES)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load thrown away")
    parser.add_argument(
        "--load-connections",
        type=int,
        default=64,
        help="connections of the second measurement (0: latency at 1 connection only)",
    )
    parser.add_argument(
        "--budget-minutes",
        type=float,
        default=22.0,
        help="skip a size whose estimated load would end the run after this",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved 1-connection rounds over the sizes"
    )
    parser.add_argument(
        "--postgres-url",
        default=POSTGRES_URL,
        help="its schema is the prefix of one schema per size (bench_cs_10k, ...)",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--strict", action="store_true", help="exit 1 when the criterion fails")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(f"journey_scale: {message}", file=sys.stderr, flush=True)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def sizes_of(text: str) -> list[int]:
    return sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})


# -- the data -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """Which rows a load of `size` services holds (the same rules on both stores)."""

    size: int
    now_ms: int

    @property
    def stride(self) -> int:
        """Every stride-th row belongs to a queried customer."""
        return max(1, self.size // (QUERIED_CUSTOMERS * SERVICES_PER_QUERIED))

    @property
    def customers(self) -> int:
        return max(100, self.size // 3)

    @property
    def first_start(self) -> int:
        return self.now_ms - SPAN_MS


def queried_customer(number: int) -> tuple[str, str]:
    """(customer id, tenant) of the `number`-th queried customer (group: none)."""
    return f"vip-{number:04d}", f"cc-{number % TENANTS:02d}"


def iso_ms(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def sqlite_rows(plan: Plan, first: int, last: int, seed: int) -> Iterator[tuple[Any, ...]]:
    """Rows `first`..`last` (inclusive) of cs_services, in column order of SQLITE_INSERT."""
    rng = random.Random(seed * 1_000_003 + first)
    for g in range(first, last + 1):
        started_at = plan.first_start + g * SPAN_MS // plan.size + rng.randrange(1000)
        customer: str | None
        ended_at: int | None
        if g % plan.stride == 0 and g // plan.stride < QUERIED_CUSTOMERS * SERVICES_PER_QUERIED:
            customer, tenant = queried_customer((g // plan.stride) % QUERIED_CUSTOMERS)
            owner, group = (g // plan.stride) % QUERIED_CUSTOMERS, ""
        elif rng.randrange(100) < IDENTIFIED_PCT:
            owner = rng.randrange(plan.customers)
            customer, tenant = f"C{owner:09d}", f"cc-{owner % TENANTS:02d}"
            group = "sales" if owner % 10 == 0 else ""
        else:
            owner = rng.randrange(10_000_000)
            customer, tenant, group = None, f"cc-{owner % TENANTS:02d}", ""
        contact_key = f"tel:+1555{owner % 10_000_000:07d}"
        service_type = SERVICE_TYPES[rng.randrange(len(SERVICE_TYPES))]
        ended_at = started_at + 30_000 + rng.randrange(1_770_000)
        if rng.randrange(100) >= COMPLETED_PCT or ended_at >= plan.now_ms:
            ended_at = None
        started = (
            f'{{"timestamp":"{iso_ms(started_at)}","application_type":"IVR",'
            f'"application_id":101,"media_type":"voice","interaction_id":"i{g}"}}'
        )
        completed = None
        if ended_at is not None:
            completed = (
                f'{{"timestamp":"{iso_ms(ended_at)}","disposition":"resolved",'
                '"disposition_desc":"customer served"}'
            )
        yield (
            f"{started_at // 1000}-{uuid.UUID(int=rng.getrandbits(128), version=4)}",
            tenant,
            group,
            customer,
            contact_key,
            service_type,
            started_at,
            ended_at,
            started_at + EXPIRY_MS,
            15,
            f'{{"service_type":"{service_type}","est_duration":300}}',
            started,
            completed,
            f'{{"lang":"en-US","segment":"gold","account":"A-{owner}"}}',
        )


COLUMNS = (
    "id, tenant, grp, customer_id, contact_key, service_type, started_at, ended_at, expires_at, "
    "next_id, props, started, completed, data"
)
SQLITE_INSERT = f"INSERT INTO cs_services ({COLUMNS}) VALUES ({', '.join('?' * 14)})"

# The same rules in SQL, for generate_series. $1, $2: first and last row; $3: now (ms);
# $4: size; $5: stride; $6: customers. hashint8extended(g, k) & MASK is row g's k-th random
# number (never negative).
MASK = 2**63 - 1
POSTGRES_INSERT = f"""
INSERT INTO cs_services ({COLUMNS})
SELECT (r.started_at / 1000)::text || '-' || gen_random_uuid()::text, r.tenant, r.grp,
       r.customer_id, r.contact_key, r.service_type, r.started_at, r.ended_at,
       r.started_at + {EXPIRY_MS}, 15,
       '{{"service_type":"' || r.service_type || '","est_duration":300}}',
       '{{"timestamp":"' || to_char(to_timestamp(r.started_at / 1000.0) AT TIME ZONE 'UTC',
                                   'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
         || '","application_type":"IVR","application_id":101,"media_type":"voice",'
         || '"interaction_id":"i' || r.g || '"}}',
       CASE WHEN r.ended_at IS NOT NULL THEN
         '{{"timestamp":"' || to_char(to_timestamp(r.ended_at / 1000.0) AT TIME ZONE 'UTC',
                                     'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
         || '","disposition":"resolved","disposition_desc":"customer served"}}' END,
       '{{"lang":"en-US","segment":"gold","account":"A-' || r.owner || '"}}'
FROM (
  SELECT g, s.started_at, o.owner, o.customer_id,
         'cc-' || lpad((o.owner % {TENANTS})::text, 2, '0') AS tenant,
         CASE WHEN o.kind = 'customer' AND o.owner % 10 = 0 THEN 'sales' ELSE '' END AS grp,
         'tel:+1555' || lpad((o.owner % 10000000)::text, 7, '0') AS contact_key,
         (ARRAY{list(SERVICE_TYPES)!r})[1 + h.h4 % {len(SERVICE_TYPES)}] AS service_type,
         CASE WHEN h.h5 % 100 < {COMPLETED_PCT} AND s.started_at + h.length < $3::bigint
              THEN s.started_at + h.length END AS ended_at
  FROM generate_series($1::bigint, $2::bigint) AS g
  CROSS JOIN LATERAL (
    SELECT hashint8extended(g, 1) & {MASK} AS h1, hashint8extended(g, 2) & {MASK} AS h2,
           hashint8extended(g, 3) & {MASK} AS h3, hashint8extended(g, 4) & {MASK} AS h4,
           hashint8extended(g, 5) & {MASK} AS h5,
           30000 + (hashint8extended(g, 6) & {MASK}) % 1770000 AS length) AS h
  CROSS JOIN LATERAL (
    SELECT $3::bigint - {SPAN_MS} + g * {SPAN_MS} / $4::bigint + h.h1 % 1000 AS started_at) AS s
  CROSS JOIN LATERAL (
    SELECT CASE WHEN g % $5::bigint = 0
                 AND g / $5::bigint < {QUERIED_CUSTOMERS * SERVICES_PER_QUERIED} THEN 'queried'
                WHEN h.h2 % 100 < {IDENTIFIED_PCT} THEN 'customer'
                ELSE 'anonymous' END AS kind) AS k
  CROSS JOIN LATERAL (
    SELECT CASE k.kind WHEN 'queried' THEN (g / $5::bigint) % {QUERIED_CUSTOMERS}
                       WHEN 'customer' THEN h.h3 % $6::bigint
                       ELSE h.h3 % 10000000 END AS owner,
           k.kind) AS o0
  CROSS JOIN LATERAL (
    SELECT o0.owner, o0.kind,
           CASE o0.kind WHEN 'queried' THEN 'vip-' || lpad(o0.owner::text, 4, '0')
                        WHEN 'customer' THEN 'C' || lpad(o0.owner::text, 9, '0') END
             AS customer_id) AS o
) AS r
"""


# -- stores -------------------------------------------------------------------------------------
class Store:
    """One backend: build it at a size, name its server URL, explain the query, clean up."""

    name = ""
    commands: frozenset[str] = frozenset()

    def __init__(self, url: str) -> None:
        self.url = url

    def reset(self) -> None:
        raise NotImplementedError

    def migrate(self) -> None:
        """The schema, by cxgate's own journey migrations (and nothing else)."""
        from cxgate.backends.url import open_journey_store
        from cxgate.clock import SystemClock

        async def run() -> None:
            store = open_journey_store(self.url, clock=SystemClock())
            await store.open()
            await store.close()

        asyncio.run(run())

    def load(self, plan: Plan, seed: int, deadline: float) -> tuple[int, dict[str, float]]:
        """Rows in, indexes rebuilt; returns the rows loaded and the seconds per phase."""
        raise NotImplementedError

    def explain(self, plan: Plan) -> dict[str, Any]:
        raise NotImplementedError

    def sizes(self) -> dict[str, Any]:
        raise NotImplementedError

    def free_disk_bytes(self) -> int:
        raise NotImplementedError


def query_sql(numbered: bool, customer: str, tenant: str) -> tuple[str, list[Any]]:
    """The SQL `GET /customers/{id}/services` runs, from the store's own compiler: the
    default page (100, asked as 101 to know whether another page follows), no filter."""
    from cxgate.journey.models import ServiceQuery, Space
    from cxgate.journey.sql import Args
    from cxgate.journey.sql_store import SqlJourneyStore

    class Compiler(SqlJourneyStore):
        def __init__(self) -> None:
            self.numbered = numbered

        def _now(self) -> int:
            return int(time.time() * 1000)

    arg = Args(numbered)
    query = ServiceQuery(space=Space(tenant, ""), customer_id=customer, limit=101)
    sql = Compiler()._compile(arg, query)
    return sql, arg.values


class SqliteStore(Store):
    name = "sqlite"

    def __init__(self, workdir: Path, label: str) -> None:
        self.path = (workdir / f"journey-scale-{label}.db").resolve()
        super().__init__("sqlite:///" + str(self.path))

    def reset(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, isolation_level=None)

    def load(self, plan: Plan, seed: int, deadline: float) -> tuple[int, dict[str, float]]:
        phases: dict[str, float] = {}
        db = self._connect()
        try:
            db.execute("PRAGMA cache_size=-1000000")  # 1 GB of page cache, this connection only
            db.execute("PRAGMA synchronous=OFF")  # the load only; the server sets its own
            indexes = self._indexes(db)
            started = time.monotonic()
            for name, _ in indexes:
                db.execute(f'DROP INDEX "{name}"')
            loaded = 0
            for first in range(0, plan.size, SQLITE_CHUNK):
                if time.monotonic() > deadline:
                    log(f"sqlite: out of time after {loaded:,} rows")
                    break
                last = min(plan.size, first + SQLITE_CHUNK) - 1
                db.execute("BEGIN")
                db.executemany(SQLITE_INSERT, sqlite_rows(plan, first, last, seed))
                db.execute("COMMIT")
                loaded = last + 1
            phases["insert_s"] = round(time.monotonic() - started, 1)
            started = time.monotonic()
            for _, sql in indexes:
                db.execute(sql)
            phases["index_s"] = round(time.monotonic() - started, 1)
            if self._indexes(db) != indexes:
                raise BenchError("the indexes of cs_services did not come back as they were")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
        return loaded, phases

    @staticmethod
    def _indexes(db: sqlite3.Connection) -> list[tuple[str, str]]:
        found = db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = 'cs_services' AND sql IS NOT NULL ORDER BY name"
        ).fetchall()
        return [(str(name), str(sql)) for name, sql in found]

    def explain(self, plan: Plan) -> dict[str, Any]:
        customer, tenant = queried_customer(1)
        sql, values = query_sql(False, customer, tenant)
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            rows = db.execute("EXPLAIN QUERY PLAN " + sql, values).fetchall()
            started = time.perf_counter()
            found = db.execute(sql, values).fetchall()
            elapsed_ms = (time.perf_counter() - started) * 1000
        finally:
            db.close()
        return {
            "sql": sql,
            "plan": [str(row[-1]) for row in rows],
            "rows_returned": len(found),
            "direct_execution_ms": round(elapsed_ms, 3),
        }

    def sizes(self) -> dict[str, Any]:
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            rows = int(db.execute("SELECT count(*) FROM cs_services").fetchone()[0])
        finally:
            db.close()
        return {"rows": rows, "file_bytes": self.path.stat().st_size}

    def free_disk_bytes(self) -> int:
        return shutil.disk_usage(self.path.parent).free


def _literal(value: Any) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


class PostgresStore(Store):
    name = "postgres"
    commands = BACKEND_COMMANDS["postgres"]

    def __init__(self, url: str, label: str) -> None:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        base = query.pop("schema", "bench_cs")
        if not base.startswith("bench"):
            raise SystemExit(f"bench.journey_scale: schema {base!r}: must start with bench")
        self.schema = f"{base}_{label}"  # one schema per size: all live during the rounds
        self.dsn = parts._replace(query=urlencode(query)).geturl()
        super().__init__(parts._replace(query=urlencode({**query, "schema": self.schema})).geturl())

    def _run(self, work: Any) -> Any:
        import asyncpg

        async def run() -> Any:
            conn = await asyncpg.connect(
                self.dsn, server_settings={"search_path": f'"{self.schema}"'}
            )
            try:
                return await work(conn)
            finally:
                await conn.close()

        return asyncio.run(run())

    def reset(self) -> None:
        async def drop(conn: Any) -> None:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

        self._run(drop)

    def load(self, plan: Plan, seed: int, deadline: float) -> tuple[int, dict[str, float]]:
        async def work(conn: Any) -> tuple[int, dict[str, float]]:
            phases: dict[str, float] = {}
            await conn.execute("SET maintenance_work_mem = '512MB'")  # this session only
            await conn.execute("SELECT setseed($1)", (seed % 1000) / 1000)
            indexes = await self._indexes(conn)
            started = time.monotonic()
            for name, _ in indexes:
                await conn.execute(f'DROP INDEX "{name}"')
            loaded = 0
            for first in range(0, plan.size, POSTGRES_CHUNK):
                if time.monotonic() > deadline:
                    log(f"postgres: out of time after {loaded:,} rows")
                    break
                last = min(plan.size, first + POSTGRES_CHUNK) - 1
                await conn.execute(
                    POSTGRES_INSERT,
                    first,
                    last,
                    plan.now_ms,
                    plan.size,
                    plan.stride,
                    plan.customers,
                    timeout=3600,
                )
                loaded = last + 1
                if plan.size > POSTGRES_CHUNK:
                    log(f"postgres: {loaded:,} rows in {time.monotonic() - started:.0f} s")
            phases["insert_s"] = round(time.monotonic() - started, 1)
            started = time.monotonic()
            for _, sql in indexes:
                await conn.execute(sql, timeout=3600)
            phases["index_s"] = round(time.monotonic() - started, 1)
            if await self._indexes(conn) != indexes:
                raise BenchError("the indexes of cs_services did not come back as they were")
            started = time.monotonic()
            await conn.execute("ANALYZE cs_services", timeout=3600)
            phases["analyze_s"] = round(time.monotonic() - started, 1)
            return loaded, phases

        result: tuple[int, dict[str, float]] = self._run(work)
        return result

    @staticmethod
    async def _indexes(conn: Any) -> list[tuple[str, str]]:
        """The secondary indexes of cs_services (not the primary key, which the foreign keys
        of cs_states and cs_tasks need; rows arrive in id order, so it stays cheap)."""
        rows = await conn.fetch(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace "
            "WHERE t.relname = 'cs_services' AND n.nspname = current_schema() "
            "AND NOT x.indisprimary ORDER BY i.relname"
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    def explain(self, plan: Plan) -> dict[str, Any]:
        customer, tenant = queried_customer(1)
        sql, values = query_sql(True, customer, tenant)

        async def work(conn: Any) -> dict[str, Any]:
            custom = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *values)
            # asyncpg prepares its statements: after five runs PostgreSQL may switch to a
            # generic plan (parameters unknown), which must use the index as well.
            types = ", ".join("text" if isinstance(v, str) else "bigint" for v in values)
            await conn.execute(f"PREPARE cs_customer_query ({types}) AS {sql}")
            await conn.execute("SET plan_cache_mode = force_generic_plan")
            literals = ", ".join(_literal(v) for v in values)  # EXECUTE takes no $n
            generic = await conn.fetch(
                f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE cs_customer_query ({literals})"
            )
            await conn.execute("RESET plan_cache_mode")
            await conn.execute("DEALLOCATE cs_customer_query")
            return {
                "sql": sql,
                "parameters": [str(v) for v in values],
                "plan": [str(r[0]) for r in custom],
                "generic_plan": [str(r[0]) for r in generic],
            }

        result: dict[str, Any] = self._run(work)
        return result

    def sizes(self) -> dict[str, Any]:
        async def work(conn: Any) -> dict[str, Any]:
            rows = await conn.fetchval("SELECT count(*) FROM cs_services")
            total = await conn.fetchval("SELECT pg_total_relation_size('cs_services')")
            heap = await conn.fetchval("SELECT pg_relation_size('cs_services')")
            indexes = await conn.fetch(
                "SELECT c.relname, pg_relation_size(c.oid) FROM pg_index x "
                "JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
                "JOIN pg_namespace n ON n.oid = t.relnamespace "
                "WHERE t.relname = 'cs_services' AND n.nspname = current_schema() "
                "ORDER BY c.relname"
            )
            return {
                "rows": int(rows),
                "total_bytes": int(total),
                "heap_bytes": int(heap),
                "index_bytes": {str(r[0]): int(r[1]) for r in indexes},
            }

        result: dict[str, Any] = self._run(work)
        return result

    def free_disk_bytes(self) -> int:
        async def work(conn: Any) -> str:
            return str(await conn.fetchval("SHOW data_directory"))

        try:
            directory = self._run(work)
            return shutil.disk_usage(directory).free
        except OSError:
            return shutil.disk_usage("/").free


# -- load ---------------------------------------------------------------------------------------
def wrk_script(requests: list[tuple[str, str]]) -> str:
    """Pre-formatted GETs (path, tenant) cycled through; `done()` prints what bench.wrk reads."""
    items = ",\n  ".join(
        f"{{{lua_string(path)}, {lua_string(tenant)}}}" for path, tenant in requests
    )
    return f"""-- generated by bench/journey_scale.py
local items = {{
  {items}
}}
local requests_ = {{}}
local position = 0
local next_thread = 0

function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  for i, item in ipairs(items) do
    requests_[i] = wrk.format("GET", item[1], {{["ContactCenterId"] = item[2]}})
  end
  position = ((thread_index or 0) * 97) % #requests_
end

function request()
  position = position % #requests_ + 1
  return requests_[position]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{MARKER}{{"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}},' ..
    '"latency_us":{{"min":%.1f,"mean":%.1f,"max":%.1f,"stdev":%.1f,' ..
    '"p50":%.1f,"p90":%.1f,"p99":%.1f}}}}\\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max, latency.stdev,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""


def run_wrk(
    wrk: str, base_url: str, script: Path, *, connections: int, duration_s: float
) -> dict[str, Any]:
    argv = [
        wrk,
        "--latency",
        f"--threads={min(2, connections)}",
        f"--connections={connections}",
        f"--duration={max(1, round(duration_s))}s",
        "--timeout=10s",
        f"--script={script}",
        base_url.rstrip("/") + "/",
    ]
    proc = subprocess.run(
        argv, capture_output=True, text=True, check=False, timeout=duration_s + 60
    )
    if proc.returncode != 0:
        raise WrkError(f"wrk exited with {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return parse_output(proc.stdout).as_dict()


def measure(
    wrk: str,
    base_url: str,
    script: Path,
    server_pid: int,
    commands: frozenset[str],
    *,
    connections: int,
    warmup_s: float,
    duration_s: float,
) -> dict[str, Any]:
    if warmup_s >= 1:
        run_wrk(wrk, base_url, script, connections=connections, duration_s=warmup_s)
    wall = time.monotonic()
    server = cpu_seconds(server_pid)
    store = cpu_seconds_by_command(commands)
    busy, total = machine_cpu_ticks()
    load_before = os.getloadavg()[0]
    result = run_wrk(wrk, base_url, script, connections=connections, duration_s=duration_s)
    wall = max(time.monotonic() - wall, 1e-9)
    server_pct = 100.0 * (cpu_seconds(server_pid) - server) / wall
    store_pct = 100.0 * store_cpu_delta(store, cpu_seconds_by_command(commands)) / wall
    busy_after, total_after = machine_cpu_ticks()
    ticks = total_after - total
    machine = 100.0 * (os.cpu_count() or 1) * (busy_after - busy) / ticks if ticks else 0.0
    rps = result["rps"]
    return {
        "connections": connections,
        "rps": rps,
        "p50_ms": result["p50_ms"],
        "p90_ms": result["p90_ms"],
        "p99_ms": result["p99_ms"],
        "max_ms": result["max_ms"],
        "errors": result["errors"],
        "requests": result["requests"],
        "cpu": {
            "server_pct": round(server_pct, 1),
            "store_pct": round(store_pct, 1),
            "machine_pct": round(machine, 1),
            "server_us_per_request": round(1e4 * server_pct / rps, 1) if rps else None,
            "store_us_per_request": round(1e4 * store_pct / rps, 1) if rps else None,
            "loadavg_1m_before": round(load_before, 2),
            "loadavg_1m_after": round(os.getloadavg()[0], 2),
        },
    }


def check_query(base_url: str) -> int:
    """The first queried customer's services, through the API: how many it returns."""
    import http.client

    customer, tenant = queried_customer(0)
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or HOST, parts.port, timeout=30)
    path = f"/genesys/1/cs/customers/{customer}/services"
    try:
        conn.request("GET", path, headers={"ContactCenterId": tenant})
        answer = conn.getresponse()
        body = answer.read()
    finally:
        conn.close()
    if answer.status != 200:
        raise BenchError(f"GET {path} answered {answer.status}: {body[:300]!r}")
    return len(json.loads(body))


def label_of(size: int) -> str:
    for unit, name in ((1_000_000, "m"), (1_000, "k")):
        if size >= unit and size % unit == 0:
            return f"{size // unit}{name}"
    return str(size)


def build(args: argparse.Namespace, store: Store, size: int, deadline: float) -> dict[str, Any]:
    """A fresh store of `size` services (fewer if the time runs out)."""
    out: dict[str, Any] = {"requested_size": size, "status": "loading"}
    store.reset()
    free = store.free_disk_bytes()
    needed = size * BYTES_PER_ROW_ESTIMATE
    out["free_disk_gib_before"] = round(free / 2**30, 1)
    if free < needed + 5 * 2**30:
        raise BenchError(
            f"{free / 2**30:.1f} GiB free; {size:,} rows need about {needed / 2**30:.1f} GiB "
            "and 5 GiB must stay free"
        )
    plan = Plan(size, int(time.time() * 1000))
    started = time.monotonic()
    store.migrate()
    loaded, phases = store.load(plan, args.seed, deadline)
    out["load_s"] = round(time.monotonic() - started, 1)
    out["load_phases"] = phases
    out["loaded_rows"] = loaded
    out["complete"] = loaded == size
    out["storage"] = store.sizes()
    out["loadavg_1m_after_load"] = round(os.getloadavg()[0], 2)
    log(f"{store.name}: {loaded:,} rows loaded in {out['load_s']:.0f} s {phases}")
    return out


@dataclass
class Live:
    """A loaded store with its cxgate server."""

    store: Store
    entry: dict[str, Any]
    process: ManagedProcess
    base_url: str


def run_backend(
    args: argparse.Namespace,
    name: str,
    wrk: str,
    procs: ProcessSet,
    workdir: Path,
    deadline: float,
    notes: list[str],
) -> list[dict[str, Any]]:
    """Load every size, start a server on each, then measure them in interleaved rounds, so
    that a change in the machine's load between sizes does not pass for an effect of size."""
    sizes = sizes_of(args.sqlite_sizes if name == "sqlite" else args.postgres_sizes)
    entries: list[dict[str, Any]] = []
    stores: list[Store] = []
    live: list[Live] = []
    script = workdir / "scale.lua"
    requests = []
    for number in range(QUERIED_CUSTOMERS):
        customer, tenant = queried_customer(number)
        requests.append((f"/genesys/1/cs/customers/{customer}/services", tenant))
    script.write_text(wrk_script(requests), encoding="utf-8")
    runs = args.rounds * (2 if args.load_connections > 0 else 1)
    measure_s = runs * (args.warmup + args.duration) + 10  # per size
    rate: float | None = None  # seconds per loaded row, from the last size
    try:
        for size in sizes:
            label = label_of(size)
            store: Store = (
                SqliteStore(workdir, label)
                if name == "sqlite"
                else PostgresStore(args.postgres_url, label)
            )
            if rate is not None:
                # this load, and then the measurements of every size loaded by then
                estimate = rate * size + measure_s * (len(live) + 1)
                if time.monotonic() + estimate > deadline:
                    note = (
                        f"{name}: {size:,} services not measured: loading them would take about "
                        f"{rate * size / 60:.0f} min at the rate of the last size, which with "
                        "the measurements would overrun the time budget"
                    )
                    log(note)
                    notes.append(note)
                    entries.append({"requested_size": size, "status": "skipped", "error": note})
                    continue
            stores.append(store)
            try:
                entry = build(args, store, size, deadline - measure_s * (len(live) + 1))
            except Exception as exc:  # the driver's too: record it, go on
                log(f"{name} {size:,}: not loaded: {exc}")
                entries.append({"requested_size": size, "status": "error", "error": str(exc)})
                continue
            entries.append(entry)
            rate = entry["load_s"] / max(entry["loaded_rows"], 1)
            if not entry["complete"]:
                notes.append(
                    f"{name}: the load of {size:,} services ran out of time at "
                    f"{entry['loaded_rows']:,}; measured at that size"
                )
            port = free_port(HOST)
            process = procs.start(
                ManagedProcess(
                    f"cxgate ({name}, {label})",
                    serve_argv(cxgate_executable(), port, store.url),
                    workdir / f"cxgate-{name}-{label}.log",
                )
            )
            live.append(Live(store, entry, process, f"http://{HOST}:{port}"))
        for one in live:
            wait_ready(one.process, one.base_url, timeout_s=120)
            one.entry["services_of_queried_customer"] = check_query(one.base_url)
            one.entry["latency_rounds"] = []
            one.entry["loaded_rounds"] = []
        options = {"warmup_s": args.warmup, "duration_s": args.duration}
        for number in range(args.rounds):
            for one in live:
                result = measure(
                    wrk,
                    one.base_url,
                    script,
                    one.process.pid,
                    one.store.commands,
                    connections=1,
                    **options,
                )
                one.entry["latency_rounds"].append(result)
                log(
                    f"{name} {one.entry['loaded_rows']:>10,} round {number + 1}: 1 connection "
                    f"{result['rps']:.0f} req/s, p50 {result['p50_ms']} ms, p99 "
                    f"{result['p99_ms']} ms, cxgate {result['cpu']['server_us_per_request']} "
                    f"µs/req, load avg {result['cpu']['loadavg_1m_before']}"
                )
                if args.load_connections > 0:
                    result = measure(
                        wrk,
                        one.base_url,
                        script,
                        one.process.pid,
                        one.store.commands,
                        connections=args.load_connections,
                        **options,
                    )
                    one.entry["loaded_rounds"].append(result)
                    log(
                        f"{name} {one.entry['loaded_rows']:>10,} round {number + 1}: "
                        f"{args.load_connections} connections {result['rps']:.0f} req/s, p50 "
                        f"{result['p50_ms']} ms, p99 {result['p99_ms']} ms"
                    )
        for one in live:
            one.entry["latency"] = summarize_rounds(one.entry["latency_rounds"])
            if one.entry["loaded_rounds"]:
                one.entry["loaded"] = summarize_rounds(one.entry["loaded_rounds"])
            one.entry["explain"] = one.store.explain(Plan(one.entry["loaded_rows"], 0))
            if not one.process.running():
                raise BenchError("cxgate died under load:\n" + one.process.log_tail())
            one.entry["status"] = "ok"
    except Exception as exc:
        log(f"{name}: failed: {exc}")
        for one in live:
            if one.entry.get("status") != "ok":
                one.entry.update(status="error", error=str(exc))
    finally:
        for one in live:
            procs.stop(one.process)
        for store in stores:
            try:
                store.reset()
            except Exception as exc:
                log(f"{name}: cleanup of {store.url} failed: {exc}")
    return entries


def summarize_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The median over the rounds of each figure (and the spread of p99)."""

    def median(key: str) -> float:
        return float(statistics.median(r[key] for r in rounds))

    server_us = [r["cpu"]["server_us_per_request"] for r in rounds]
    return {
        "rounds": len(rounds),
        "rps": round(median("rps"), 1),
        "p50_ms": round(median("p50_ms"), 3),
        "p90_ms": round(median("p90_ms"), 3),
        "p99_ms": round(median("p99_ms"), 3),
        "p99_ms_min": min(r["p99_ms"] for r in rounds),
        "p99_ms_max": max(r["p99_ms"] for r in rounds),
        "server_us_per_request": round(statistics.median(u for u in server_us if u), 1)
        if any(server_us)
        else None,
        "loadavg_1m": [r["cpu"]["loadavg_1m_before"] for r in rounds],
        "errors": sum(sum(r["errors"].values()) for r in rounds),
    }


def criterion(sizes: list[dict[str, Any]]) -> dict[str, Any]:
    measured = [s for s in sizes if s.get("status") == "ok"]
    if len(measured) < 2:
        return {"evaluated": False, "reason": "fewer than two sizes measured"}
    small, large = measured[0], measured[-1]
    ratio = large["latency"]["p99_ms"] / small["latency"]["p99_ms"]
    per_round = [
        round(b["p99_ms"] / a["p99_ms"], 3)
        for a, b in zip(small["latency_rounds"], large["latency_rounds"], strict=False)
    ]
    result: dict[str, Any] = {
        "evaluated": True,
        "smallest_rows": small["loaded_rows"],
        "largest_rows": large["loaded_rows"],
        "largest_complete": large["complete"],
        "p99_ratio": round(ratio, 3),
        "p99_ratio_per_round": per_round,
        "limit": P99_LIMIT,
        "met": ratio <= P99_LIMIT and large["latency"]["errors"] == 0,
        "p50_ratio": round(large["latency"]["p50_ms"] / small["latency"]["p50_ms"], 3),
    }
    small_us = small["latency"]["server_us_per_request"]
    large_us = large["latency"]["server_us_per_request"]
    if small_us and large_us:
        result["server_cpu_per_request_ratio"] = round(large_us / small_us, 3)
    if "loaded" in small and "loaded" in large:
        result["loaded_p99_ratio"] = round(large["loaded"]["p99_ms"] / small["loaded"]["p99_ms"], 3)
    return result


# -- report -------------------------------------------------------------------------------------
def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def render_markdown(report: dict[str, Any]) -> str:
    machine, settings = report["machine"], report["settings"]
    conns = settings["load_connections"]
    lines = [
        "# Context Services: the customer query at scale",
        "",
        f"Run {report['started_at']} → {report['finished_at']} (UTC), commit "
        f"`{(machine.get('git_commit') or 'unknown')[:12]}`. Machine: {machine['nproc']} CPUs "
        f"({machine['cpu_model']}), {machine['memory_gib']} GiB, Python {machine['python']}; "
        f"load average (1 min) at start {machine['loadavg_at_start'][0]:.2f}, at end "
        f"{report['loadavg_at_end'][0]:.2f}.",
        "",
        "`GET /genesys/1/cs/customers/{id}/services` (default page of 100), cycling over "
        f"{QUERIED_CUSTOMERS} customers of {SERVICES_PER_QUERIED} services each in "
        f"{TENANTS} tenants; one `cxgate serve` worker per size, all sizes of a store loaded "
        f"first and then measured in {settings['rounds']} interleaved rounds at 1 connection "
        f"(wrk, {settings['duration_s']:g} s after {settings['warmup_s']:g} s of warm-up): the "
        "figures are the medians over the rounds, and *p99 range* is the lowest and highest "
        f"round. *{conns} conn*: the same, under load, in the same rounds (latency is then "
        "mostly queueing: p50 ≈ connections ÷ req/s). Only "
        "`cs_services` is loaded (the query does not read states or tasks); every size fits in "
        "this machine's page cache, so these are not disk reads.",
        "",
        "| store | services | load s | on disk | 1 conn req/s | p50 ms | p99 ms | p99 range ms "
        f"| cxgate µs/req | {conns} conn req/s | p50 ms | p99 ms | load avg (rounds) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, data in report["backends"].items():
        for entry in data.get("sizes", []):
            if entry.get("status") != "ok":
                lines.append(
                    f"| {name} | {entry['requested_size']:,} | | | not measured: "
                    f"{_one_line(entry.get('error', entry.get('status', '')))} "
                    "| | | | | | | | |"
                )
                continue
            lat, storage = entry["latency"], entry["storage"]
            loaded = entry.get("loaded", {})
            size_bytes = storage.get("total_bytes", storage.get("file_bytes"))
            rows = f"{entry['loaded_rows']:,}" + ("" if entry["complete"] else " (partial)")
            loads = ", ".join(f"{v:.1f}" for v in lat["loadavg_1m"])
            lines.append(
                f"| {name} | {rows} | {entry['load_s']:.0f} | "
                f"{_num(size_bytes / 2**20 if size_bytes else None)} MiB | "
                f"{_num(lat['rps'])} | {_num(lat['p50_ms'], 2)} | {_num(lat['p99_ms'], 2)} | "
                f"{_num(lat['p99_ms_min'], 2)} to {_num(lat['p99_ms_max'], 2)} | "
                f"{_num(lat['server_us_per_request'])} | {_num(loaded.get('rps'))} | "
                f"{_num(loaded.get('p50_ms'), 2)} | {_num(loaded.get('p99_ms'), 2)} | {loads} |"
            )
    lines.append("")
    for name, data in report["backends"].items():
        verdict = data.get("criterion", {})
        if not verdict.get("evaluated"):
            lines += [f"**{name}**: criterion not evaluated ({verdict.get('reason')}).", ""]
            continue
        rounds = ", ".join(f"{r:.2f}" for r in verdict["p99_ratio_per_round"])
        lines += [
            f"**{name}**: p99 at {verdict['largest_rows']:,} services ÷ p99 at "
            f"{verdict['smallest_rows']:,} = {verdict['p99_ratio']:.2f} (limit "
            f"{verdict['limit']:g}; per round {rounds}): "
            f"**{'met' if verdict['met'] else 'missed'}**. p50 ratio "
            f"{verdict['p50_ratio']:.2f}; cxgate CPU per request ratio "
            f"{verdict.get('server_cpu_per_request_ratio', '-')}"
            + (
                f"; p99 ratio under load {verdict['loaded_p99_ratio']:.2f}"
                if "loaded_p99_ratio" in verdict
                else ""
            )
            + ".",
            "",
        ]
    lines += ["## Query plans", "", "The SQL the store runs for this query:", ""]
    for data in report["backends"].values():
        for entry in data.get("sizes", []):
            if entry.get("explain"):
                lines += ["```sql", entry["explain"]["sql"], "```", ""]
                break
        break
    for name, data in report["backends"].items():
        for entry in data.get("sizes", []):
            explain = entry.get("explain")
            if not explain:
                continue
            title = "EXPLAIN (ANALYZE, BUFFERS)" if name == "postgres" else "EXPLAIN QUERY PLAN"
            lines += [f"{name}, {entry['loaded_rows']:,} services, {title}:", "", "```"]
            lines += explain["plan"]
            lines += ["```", ""]
            if explain.get("generic_plan"):
                lines += [
                    "The generic plan (parameters unknown, as a prepared statement may "
                    "end up using):",
                    "",
                    "```",
                ]
                lines += explain["generic_plan"]
                lines += ["```", ""]
    notes = report.get("notes", [])
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def write_results(report: dict[str, Any], results_dir: Path) -> list[Path]:
    results_dir.mkdir(parents=True, exist_ok=True)
    paths = [results_dir / "journey_scale.json", results_dir / "journey_scale.md"]
    paths[0].write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    paths[1].write_text(render_markdown(report), encoding="utf-8")
    return paths


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through every `finally`, which stops the processes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = [name.strip() for name in args.backends.split(",") if name.strip()]
    for name in names:
        if name not in ("sqlite", "postgres"):
            raise SystemExit(f"bench.journey_scale: unknown backend {name!r}")
    wrk = ensure_wrk()
    signal.signal(signal.SIGTERM, _sigterm)
    run_started = time.monotonic()
    deadline = run_started + args.budget_minutes * 60
    report: dict[str, Any] = {
        "started_at": now_iso(),
        "machine": machine_info(wrk_version(wrk)),
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "load_connections": args.load_connections,
            "queried_customers": QUERIED_CUSTOMERS,
            "services_per_queried_customer": SERVICES_PER_QUERIED,
            "tenants": TENANTS,
            "identified_pct": IDENTIFIED_PCT,
            "completed_pct": COMPLETED_PCT,
            "budget_minutes": args.budget_minutes,
            "rounds": args.rounds,
            "postgres_url": args.postgres_url,
        },
        "backends": {},
        "notes": [],
    }
    with tempfile.TemporaryDirectory(prefix="cxgate-journey-scale-") as tmp:
        workdir = Path(tmp)
        with ProcessSet() as procs:
            for name in names:
                entries = run_backend(args, name, wrk, procs, workdir, deadline, report["notes"])
                report["backends"][name] = {"sizes": entries, "criterion": criterion(entries)}
    report["finished_at"] = now_iso()
    report["loadavg_at_end"] = list(os.getloadavg())
    for path in write_results(report, args.results_dir):
        log(f"wrote {path}")
    print(render_markdown(report))
    failed = any(
        data["criterion"].get("evaluated") and not data["criterion"]["met"]
        for data in report["backends"].values()
    )
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
