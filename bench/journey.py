"""The Genesys sizing scenario for Context Services, against one `cxgate serve` worker.

    .venv/bin/python -m bench.journey                       # SQLite and PostgreSQL, 20 s each
    .venv/bin/python -m bench.journey --backends postgres --duration 30

One journey is 33 REST requests: start a service; five times (start a state; twice: start a
task, end it; end the state); end the service; then query the customer's services
(`GET /genesys/1/cs/customers/{id}/services`) and check that the service just ended is there.
64 connections each run one journey after another, each request waiting for the answer to the
previous one (the next request needs the id it returned).

The load comes from wrk with one connection per wrk thread (`-t64 -c64`): wrk's Lua state is per
thread, so one connection per thread lets a Lua state machine carry a journey's ids from one
answer to the next request. The script times every request itself (CLOCK_MONOTONIC through
LuaJIT's ffi) and writes each latency to a file per thread, from which this module computes
requests/s, p50 and p99 per request type and overall. wrk costs a few µs of CPU per request,
so nearly all of the machine is left to cxgate and PostgreSQL.

Published anchor: Genesys measured about 1,000 REST requests/s on four quad-core GMS+Cassandra
nodes at about 30 % CPU, i.e. about 200 requests/s per core at saturation. Target: at least
4,000 requests/s on one core (one cxgate worker) with PostgreSQL.

Results: bench/results/journey.{json,md}.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from bench.report import machine_info
from bench.servers import (
    BACKEND_COMMANDS,
    Backend,
    BenchError,
    ManagedProcess,
    ProcessSet,
    cpu_seconds,
    cpu_seconds_by_command,
    free_port,
    machine_cpu_ticks,
    make_backend,
    store_cpu_delta,
    wait_ready,
)
from bench.wrk import MARKER, WrkError, ensure_wrk, wrk_version

RESULTS_DIR = Path(__file__).resolve().parent / "results"
HOST = "127.0.0.1"
BASE = "/genesys/1/cs"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test?schema=bench_cs"
ANCHOR_RPS_PER_CORE = 200.0  # Genesys: ~1,000 req/s on 4 x 4 cores at ~30 % CPU
TARGET_RPS = 4000.0  # one cxgate worker (one core) on PostgreSQL
TARGET_BACKEND = "postgres"
STATES = 5
TASKS_PER_STATE = 2
REQUESTS_PER_JOURNEY = 1 + STATES * (2 + 2 * TASKS_PER_STATE) + 1 + 1  # = 33
# The request types, in journey order, with the status each must answer.
KINDS: dict[str, tuple[str, str, int]] = {
    "service_start": ("POST", "/services/start", 201),
    "state_start": ("POST", "/services/{id}/states/start", 201),
    "task_start": ("POST", "/services/{id}/tasks/start", 201),
    "task_end": ("POST", "/services/{id}/tasks/{task_id}/end", 204),
    "state_end": ("POST", "/services/{id}/states/{state_id}/end", 204),
    "service_end": ("POST", "/services/{id}/end", 204),
    "customer_query": ("GET", "/customers/{customer_id}/services", 200),
}
PER_JOURNEY = {
    "service_start": 1,
    "state_start": STATES,
    "task_start": STATES * TASKS_PER_STATE,
    "task_end": STATES * TASKS_PER_STATE,
    "state_end": STATES,
    "service_end": 1,
    "customer_query": 1,
}
assert sum(PER_JOURNEY.values()) == REQUESTS_PER_JOURNEY == 33

# The bodies, as an IVR and an agent desktop would send them: event fields and a little
# attached data. `%s` / `%d` are filled in per request (customer, types, ids).
SERVICE_START_BODY = (
    '{"customer_id":"%s","service_type":"%s","application_type":"IVR",'
    '"application_id":101,"resource_type":"routing_point","resource_id":3001,'
    '"media_type":"voice","interaction_id":"%s","session_id":"s%d",'
    '"est_duration":300,"lang":"en-US","segment":"gold","account":"A-%d"}'
)
STATE_START_BODY = (
    '{"state_type":"%s","application_type":"IVR","application_id":101,'
    '"media_type":"voice","est_duration":60,"menu_level":%d}'
)
TASK_START_BODY = (
    '{"task_type":"%s","state_id":%s,"application_type":"IVR","application_id":101,'
    '"media_type":"voice","est_duration":20}'
)
TASK_END_BODY = '{"disposition":"done","disposition_desc":"task completed"}'
STATE_END_BODY = '{"disposition":"next","disposition_desc":"state completed"}'
SERVICE_END_BODY = (
    '{"disposition":"resolved","disposition_desc":"customer served","satisfaction":5}'
)
SERVICE_TYPES = ("billing", "support", "sales", "orders", "retention")
STATE_TYPES = ("greeting", "identification", "main_menu", "self_service", "transfer")
TASK_TYPES = ("collect_input", "lookup", "play_prompt", "authenticate", "route")
TENANT_PREFIX = "cc-"

# Why the PostgreSQL figures are what they are: kept with the code that writes the results, so
# every run's journey.md carries it. Update it when the journey's store path changes.
NOTES = """## What changed for PostgreSQL, and why

The first run (commit `4aaaeb7a9b5b`) measured PostgreSQL at 1,717 req/s, with cxgate at 489 µs
and postgres at 329 µs of CPU per request (SQLite: 3,849 req/s, cxgate 242 µs). On 2 cores both
had to come down to about 250 µs. Round trips to PostgreSQL per request, counted at the driver
(BEGIN and COMMIT are round trips too):

| request | before | after | what it is now |
|---|--:|--:|---|
| service_start | 3 | 1 | one INSERT |
| state_start, task_start | 4, 5 | 1 | touch + state check + INSERT in one statement |
| task_end, state_end | 5 | 1 | lock service, end item, touch: one statement |
| service_end | 7 | 2 | read attached data to merge, then one statement |
| customer_query | 3 | 1 | one SELECT, no transaction block |
| **per request** | **4.79** | **1.03** | |

- **One statement per write** (`journey/pg_writes.py`): data-modifying CTEs chain the touch and
  the item write, each step fed by the one before, so a failed end or start changes nothing
  (no touch without its write). The lock order stays service row first, so nothing deadlocks.
  Where a statement's snapshot may be older than the row it locked (another writer committed
  while it waited), it refuses to act and is run again: a service end checks that no item was
  started meanwhile (`next_id`), a merge of attached data is a compare-and-set on the stored
  text. `tests/contract/test_journey_postgres.py` holds a writer open to check each case.
- **No SELECT of attached data when an end carries none**, and no read transaction (BEGIN
  REPEATABLE READ / COMMIT) around reads that are one statement (both backends).
- **Services looked up by primary key only.** PostgreSQL, whose tables are never analysed here,
  planned `id = $1 AND tenant = $2 AND grp = $3` on the index (tenant, grp, started_at, id): each
  write scanned the whole space's services (33 pages at 2,000 services instead of 3, growing with
  the table). `tenant || ''` keeps that index out of the lookup; this was most of postgres's CPU.
- **Connections lent by `journey/pg_lanes.py`** instead of asyncpg's pool acquire and release
  per call (two tasks and a timer each, about 30 µs of cxgate CPU, as much as the statement).
- Event times format the date part once a second (`times.format_time`), not per event.

Still per request: one commit, whose WAL flush is most of postgres's CPU, and asyncpg's send and
wake-up per statement, about a third of cxgate's. HTTP-edge work done at the same time (`http/`:
body reading, routing, responses) lowered cxgate's CPU per request on both backends too.

The machine is small and shared: CPU per request rises with the load of other work (`other`
above), and with it the req/s falls, so compare runs by their CPU per request as well. With
PostgreSQL the two cores are not quite saturated (the commits' flushes and the hand-over of the
pool's 10 connections keep part of the work waiting), so req/s stays below what the CPU per
request alone would allow; a larger pool measured worse (more context switches).
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.journey", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--backends", default="sqlite,postgres", help="sqlite,postgres")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load thrown away")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--tenants", type=int, default=4, help="ContactCenterIds used")
    parser.add_argument(
        "--customers", type=int, default=20000, help="customer ids per tenant drawn from"
    )
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(f"journey: {message}", file=sys.stderr, flush=True)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def lua_list(values: tuple[str, ...]) -> str:
    return "{" + ", ".join(json.dumps(v) for v in values) + "}"


# The wrk script. `@NAME@` markers are replaced by `lua_script`; everything else is Lua.
LUA_TEMPLATE = r"""-- generated by bench/journey.py: the Genesys sizing journey, one per wrk thread
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } cxgate_journey_timespec;
int clock_gettime(int clock_id, cxgate_journey_timespec *tp);
]]
local clock_ts = ffi.new("cxgate_journey_timespec")
local function now_us()
  ffi.C.clock_gettime(1, clock_ts)  -- CLOCK_MONOTONIC
  return tonumber(clock_ts.tv_sec) * 1000000 + tonumber(clock_ts.tv_nsec) / 1000
end

local BASE = "@BASE@"
local STATES, TASKS_PER_STATE = @STATES@, @TASKS_PER_STATE@
local TENANTS, CUSTOMERS = @TENANTS@, @CUSTOMERS@
local SERVICE_TYPES = @SERVICE_TYPES@
local STATE_TYPES = @STATE_TYPES@
local TASK_TYPES = @TASK_TYPES@
local SERVICE_START_BODY = @SERVICE_START_BODY@
local STATE_START_BODY = @STATE_START_BODY@
local TASK_START_BODY = @TASK_START_BODY@
local TASK_END_BODY = @TASK_END_BODY@
local STATE_END_BODY = @STATE_END_BODY@
local SERVICE_END_BODY = @SERVICE_END_BODY@
local EXPECTED = @EXPECTED@

local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

-- Each thread writes one line per answer to its own file (buffered; flushed when wrk exits),
-- each with the time it came (CLOCK_MONOTONIC µs, the clock of Python's time.monotonic()):
-- `<kind> <time> <latency µs>` for an answer with the expected status, `! <kind> <time>
-- <status> <body>` for any other answer (or one without the id the journey needs), and
-- `~ <kind> <time>` for a request that got no answer (wrk reconnected and asked for the
-- next). Not thread:get() from done(): wrk 4.1 pops one value too many when it copies a table,
-- and crashes.
local out_file
local post_headers, get_headers
local step, service_id, customer, state_number, task_number, state_id, task_id
local sent_kind, sent_at, journey_number = nil, 0, 0
-- wrk calls request() once on the first thread's state before any connection, to count the
-- requests it returns: that call must leave the journey alone.
local verifying = false

function init(args)
  local tenant = "@TENANT_PREFIX@" .. (thread_index % TENANTS)
  post_headers = {["ContactCenterId"] = tenant, ["Content-Type"] = "application/json"}
  get_headers = {["ContactCenterId"] = tenant}
  math.randomseed(@SEED@ * 1000 + thread_index)
  out_file = assert(io.open("@OUT_DIR@/thread-" .. thread_index .. ".log", "w"))
  out_file:setvbuf("full", 65536)
  step = "service_start"
  verifying = thread_index == 0
end

function request()
  if verifying then
    verifying = false
    return wrk.format("GET", BASE .. "/customers/none/services", get_headers)
  end
  if sent_kind ~= nil then
    out_file:write("~ ", sent_kind, " ", math.floor(now_us()), "\n")
    sent_kind = nil
    step = "service_start"
  end
  local method, headers, body, path = "POST", post_headers, nil, nil
  local service = BASE .. "/services/" .. (service_id or "")
  if step == "service_start" then
    journey_number = journey_number + 1
    customer = "cust-" .. math.random(CUSTOMERS)
    state_number, service_id = 1, nil
    path = BASE .. "/services/start"
    body = string.format(SERVICE_START_BODY, customer,
      SERVICE_TYPES[math.random(#SERVICE_TYPES)],
      string.format("i%d-%d", thread_index, journey_number), journey_number,
      math.random(1000000))
  elseif step == "state_start" then
    task_number = 1
    path = service .. "/states/start"
    body = string.format(STATE_START_BODY, STATE_TYPES[state_number], state_number)
  elseif step == "task_start" then
    path = service .. "/tasks/start"
    body = string.format(TASK_START_BODY, TASK_TYPES[math.random(#TASK_TYPES)], state_id)
  elseif step == "task_end" then
    path = service .. "/tasks/" .. task_id .. "/end"
    body = TASK_END_BODY
  elseif step == "state_end" then
    path = service .. "/states/" .. state_id .. "/end"
    body = STATE_END_BODY
  elseif step == "service_end" then
    path = service .. "/end"
    body = SERVICE_END_BODY
  else
    method, headers = "GET", get_headers
    path = BASE .. "/customers/" .. customer .. "/services"
  end
  sent_kind = step
  sent_at = now_us()
  return wrk.format(method, path, headers, body)
end

function response(status, headers, body)
  local kind = sent_kind
  if kind == nil then
    return
  end
  sent_kind = nil
  local finished = now_us()
  local elapsed = finished - sent_at
  local ok = status == EXPECTED[kind]
  local next_step = "service_start"
  if ok then
    if kind == "service_start" then
      service_id = string.match(body, '"service_id"%s*:%s*"([^"]+)"')
      ok = service_id ~= nil
      next_step = "state_start"
    elseif kind == "state_start" then
      state_id = string.match(body, '"state_id"%s*:%s*(%d+)')
      ok = state_id ~= nil
      next_step = "task_start"
    elseif kind == "task_start" then
      task_id = string.match(body, '"task_id"%s*:%s*(%d+)')
      ok = task_id ~= nil
      next_step = "task_end"
    elseif kind == "task_end" then
      if task_number < TASKS_PER_STATE then
        task_number = task_number + 1
        next_step = "task_start"
      else
        next_step = "state_end"
      end
    elseif kind == "state_end" then
      if state_number < STATES then
        state_number = state_number + 1
        next_step = "state_start"
      else
        next_step = "service_end"
      end
    elseif kind == "service_end" then
      next_step = "customer_query"
    else
      -- the service that just ended must be among the customer's services
      ok = string.find(body, service_id, 1, true) ~= nil
    end
  end
  if ok then
    out_file:write(kind, " ", math.floor(finished), " ", math.floor(elapsed + 0.5), "\n")
    step = next_step
  else
    local text = string.gsub(string.sub(body or "", 1, 200), "%c", " ")
    out_file:write("! ", kind, " ", math.floor(finished), " ", status, " ", text, "\n")
    step = "service_start"
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '@MARKER@{"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%.1f,"p99":%.1f,"max":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def lua_script(*, tenants: int, customers: int, seed: int, out_dir: Path) -> str:
    expected = ", ".join(f"{kind} = {status}" for kind, (_, _, status) in KINDS.items())
    values = {
        "BASE": BASE,
        "STATES": str(STATES),
        "TASKS_PER_STATE": str(TASKS_PER_STATE),
        "TENANTS": str(tenants),
        "CUSTOMERS": str(customers),
        "SERVICE_TYPES": lua_list(SERVICE_TYPES),
        "STATE_TYPES": lua_list(STATE_TYPES),
        "TASK_TYPES": lua_list(TASK_TYPES),
        "SERVICE_START_BODY": json.dumps(SERVICE_START_BODY),
        "STATE_START_BODY": json.dumps(STATE_START_BODY),
        "TASK_START_BODY": json.dumps(TASK_START_BODY),
        "TASK_END_BODY": json.dumps(TASK_END_BODY),
        "STATE_END_BODY": json.dumps(STATE_END_BODY),
        "SERVICE_END_BODY": json.dumps(SERVICE_END_BODY),
        "EXPECTED": "{" + expected + "}",
        "TENANT_PREFIX": TENANT_PREFIX,
        "SEED": str(seed),
        "MARKER": MARKER,
        "OUT_DIR": str(out_dir),
    }
    script = LUA_TEMPLATE
    for name, value in values.items():
        script = script.replace(f"@{name}@", value)
    return script


def percentile(ordered: list[int], pct: float) -> float | None:
    """Nearest rank on sorted values (µs), in ms."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)] / 1000


@dataclass
class ThreadLogs:
    """What the wrk threads wrote: latencies (µs) and failures per request type, lost ones."""

    latencies: dict[str, list[int]] = field(default_factory=lambda: {k: [] for k in KINDS})
    failures: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    lost: int = 0
    examples: list[str] = field(default_factory=list)


def read_thread_logs(out_dir: Path, window: tuple[float, float]) -> ThreadLogs:
    """The answers that came within `window` (time.monotonic() seconds)."""
    low, high = window[0] * 1e6, window[1] * 1e6
    logs = ThreadLogs()
    for path in sorted(out_dir.glob("thread-*.log")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            fields = line.split(" ", 4)
            failed = fields[0] in ("!", "~")
            kind, at = (fields[1], fields[2]) if failed else (fields[0], fields[1])
            if not low <= int(at) < high:
                continue
            if fields[0] == "!":
                logs.failures[kind] += 1
                if len(logs.examples) < 10:
                    logs.examples.append(f"{kind}: HTTP {' '.join(fields[3:])}")
            elif fields[0] == "~":
                logs.lost += 1
            else:
                logs.latencies[kind].append(int(fields[2]))
    return logs


def summarize(logs: ThreadLogs, duration_s: float, wrk_summary: dict[str, Any]) -> dict[str, Any]:
    """Per request type and overall: count, req/s, p50, p90, p99, max (ms), failures."""
    every: list[int] = []
    rows: dict[str, Any] = {}
    for kind, values in logs.latencies.items():
        values.sort()
        every.extend(values)
        rows[kind] = _figures(values, duration_s) | {"failures": logs.failures[kind]}
    every.sort()
    failures = sum(logs.failures.values()) + logs.lost
    journeys = len(logs.latencies["customer_query"])  # each checked the journey's service
    return {
        "duration_s": round(duration_s, 3),
        "journeys": journeys,
        "journeys_per_s": round(journeys / duration_s, 1) if duration_s else 0.0,
        "requests_ok": len(every),
        "lost": logs.lost,
        "by_type": rows,
        "overall": _figures(every, duration_s) | {"failures": failures},
        # wrk's own figures cover the whole run, warm-up included
        "wrk_whole_run": {
            "requests": wrk_summary["requests"],
            "duration_s": round(wrk_summary["duration_us"] / 1e6, 3),
            "errors": wrk_summary["errors"],
            "latency_ms": {k: round(v / 1000, 3) for k, v in wrk_summary["latency_us"].items()},
        },
        "failure_examples": logs.examples,
    }


def _figures(values: list[int], duration_s: float) -> dict[str, Any]:
    def ms(pct: float) -> float | None:
        found = percentile(values, pct)
        return None if found is None else round(found, 3)

    return {
        "count": len(values),
        "rps": round(len(values) / duration_s, 1) if duration_s else 0.0,
        "p50_ms": ms(50),
        "p90_ms": ms(90),
        "p99_ms": ms(99),
        "max_ms": round(values[-1] / 1000, 3) if values else None,
    }


@dataclass(frozen=True)
class Load:
    """How wrk loads the server: connections (= wrk threads), tenants, customers, seed."""

    connections: int
    tenants: int
    customers: int
    seed: int


@dataclass
class Snapshot:
    """CPU seconds so far of the server, wrk and the store, and the machine's jiffies."""

    at: float
    server: float
    wrk: float
    store: dict[int, float]
    machine: tuple[int, int]
    loadavg: float

    @classmethod
    def take(cls, server_pid: int, wrk_pid: int, commands: frozenset[str]) -> Snapshot:
        return cls(
            at=time.monotonic(),
            server=cpu_seconds(server_pid),
            wrk=cpu_seconds(wrk_pid),
            store=cpu_seconds_by_command(commands),
            machine=machine_cpu_ticks(),
            loadavg=os.getloadavg()[0],
        )


def cpu_between(before: Snapshot, after: Snapshot, rps: float) -> dict[str, Any]:
    """CPU use between two snapshots, in % of one core, and per request (µs)."""
    wall = max(after.at - before.at, 1e-9)
    server = 100.0 * (after.server - before.server) / wall
    wrk_cpu = 100.0 * (after.wrk - before.wrk) / wall
    store = 100.0 * store_cpu_delta(before.store, after.store) / wall
    cpus = os.cpu_count() or 1
    ticks = after.machine[1] - before.machine[1]
    busy = after.machine[0] - before.machine[0]
    machine = 100.0 * cpus * busy / ticks if ticks > 0 else 0.0

    def per_request(pct: float) -> float | None:
        return round(1e4 * pct / rps, 1) if rps else None

    return {
        "server_pct": round(server, 1),
        "wrk_pct": round(wrk_cpu, 1),
        "store_pct": round(store, 1),
        "other_pct": round(max(machine - server - wrk_cpu - store, 0.0), 1),
        "machine_pct": round(machine, 1),
        "machine_capacity_pct": 100.0 * cpus,
        "server_us_per_request": per_request(server),
        "store_us_per_request": per_request(store),
        "wrk_us_per_request": per_request(wrk_cpu),
        # what one fully busy cxgate worker would serve at this CPU cost per request
        "rps_per_server_core": round(rps / (server / 100.0), 1) if server > 0 else None,
        "loadavg_1m_start": round(before.loadavg, 2),
        "loadavg_1m_end": round(after.loadavg, 2),
    }


def measure(
    wrk: str,
    base_url: str,
    load: Load,
    server_pid: int,
    commands: frozenset[str],
    *,
    warmup_s: float,
    duration_s: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One wrk run: `warmup_s` of load thrown away, then `duration_s` measured (requests that
    came back in that window, and the CPU each process used in it), then a second of tail so
    that the end of the run is not in the window either."""
    with tempfile.TemporaryDirectory(prefix="cxgate-journey-wrk-") as tmp:
        out_dir = Path(tmp)
        script = out_dir / "journey.lua"
        script.write_text(
            lua_script(
                tenants=load.tenants, customers=load.customers, seed=load.seed, out_dir=out_dir
            ),
            encoding="utf-8",
        )
        total_s = math.ceil(warmup_s + duration_s + 1.0)
        argv = [
            wrk,
            f"--threads={load.connections}",  # one connection per thread: a Lua state each
            f"--connections={load.connections}",
            f"--duration={total_s}s",
            "--timeout=10s",
            f"--script={script}",
            base_url.rstrip("/") + "/",
        ]
        with subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as proc:
            try:
                started = time.monotonic()
                time.sleep(max(0.0, warmup_s - (time.monotonic() - started)))
                before = Snapshot.take(server_pid, proc.pid, commands)
                time.sleep(duration_s)
                after = Snapshot.take(server_pid, proc.pid, commands)
                stdout, stderr = proc.communicate(timeout=total_s + 120)
            except BaseException:
                proc.kill()
                raise
        if proc.returncode != 0:
            raise WrkError(f"wrk exited with {proc.returncode}: {stderr.strip()[-2000:]}")
        found = [line for line in stdout.splitlines() if line.startswith(MARKER)]
        if not found:
            raise WrkError("wrk printed no result:\n" + stdout[-2000:] + stderr[-2000:])
        wrk_summary: dict[str, Any] = json.loads(found[0][len(MARKER) :])
        logs = read_thread_logs(out_dir, (before.at, after.at))
    result = summarize(logs, after.at - before.at, wrk_summary)
    return result, cpu_between(before, after, result["overall"]["rps"])


class Client:
    """A plain keep-alive HTTP client for the one-journey check before the load."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(parts.hostname or HOST, parts.port, timeout=10)

    def call(self, method: str, path: str, body: str | None, tenant: str, expected: int) -> Any:
        headers = {"ContactCenterId": tenant}
        if body is not None:
            headers["Content-Type"] = "application/json"
        self.conn.request(method, BASE + path, body=body, headers=headers)
        answer = self.conn.getresponse()
        raw = answer.read()
        if answer.status != expected:
            raise BenchError(
                f"{method} {path} answered {answer.status}, not {expected}: {raw[:300]!r}"
            )
        return json.loads(raw) if raw else None

    def close(self) -> None:
        self.conn.close()


def check_journey(base_url: str) -> None:
    """One journey, the same requests as the Lua script sends, each status checked."""
    client = Client(base_url)
    tenant, customer = TENANT_PREFIX + "check", "cust-check"
    try:
        body = SERVICE_START_BODY % (customer, SERVICE_TYPES[0], "i-check", 1, 1)
        sid = client.call("POST", "/services/start", body, tenant, 201)["service_id"]
        for n in range(1, STATES + 1):
            body = STATE_START_BODY % (STATE_TYPES[n - 1], n)
            state = client.call("POST", f"/services/{sid}/states/start", body, tenant, 201)
            state_id = state["state_id"]
            for t in range(TASKS_PER_STATE):
                body = TASK_START_BODY % (TASK_TYPES[t], state_id)
                task = client.call("POST", f"/services/{sid}/tasks/start", body, tenant, 201)
                end = f"/services/{sid}/tasks/{task['task_id']}/end"
                client.call("POST", end, TASK_END_BODY, tenant, 204)
            client.call(
                "POST", f"/services/{sid}/states/{state_id}/end", STATE_END_BODY, tenant, 204
            )
        client.call("POST", f"/services/{sid}/end", SERVICE_END_BODY, tenant, 204)
        found = client.call("GET", f"/customers/{customer}/services", None, tenant, 200)
        if [s["service_id"] for s in found] != [sid]:
            raise BenchError(f"the customer query did not return the service {sid}: {found}")
        flags = "?completed_states=true&completed_tasks=true"
        whole = client.call("GET", f"/services/{sid}{flags}", None, tenant, 200)
        states, tasks = len(whole["completed_states"]), len(whole["completed_tasks"])
        if (states, tasks) != (STATES, STATES * TASKS_PER_STATE):
            raise BenchError(f"the journey recorded {states} states and {tasks} tasks")
    finally:
        client.close()


def cxgate_executable() -> str:
    beside = Path(sys.executable).parent / "cxgate"
    if beside.exists():
        return str(beside)
    raise SystemExit(f"bench.journey: no cxgate beside {sys.executable}; run `make install`")


def serve_argv(cxgate: str, port: int, store_url: str) -> list[str]:
    return [
        cxgate,
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--store",
        store_url,
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def run_backend(
    args: argparse.Namespace,
    backend: Backend,
    wrk: str,
    procs: ProcessSet,
    logs: Path,
) -> dict[str, Any]:
    load = Load(args.connections, args.tenants, args.customers, args.seed)
    backend.reset()
    port = free_port(HOST)
    process = procs.start(
        ManagedProcess(
            f"cxgate ({backend.name})",
            serve_argv(cxgate_executable(), port, backend.store_url),
            logs / f"cxgate-{backend.name}.log",
        )
    )
    base_url = f"http://{HOST}:{port}"
    out: dict[str, Any] = {"store": backend.store_url if backend.name != "sqlite" else "sqlite"}
    try:
        wait_ready(process, base_url)
        check_journey(base_url)
        commands = BACKEND_COMMANDS[backend.name]
        log(f"{backend.name}: cxgate pid {process.pid}; one journey checked; loading")
        out["measured_at"] = now_iso()
        result, cpu = measure(
            wrk,
            base_url,
            load,
            process.pid,
            commands,
            warmup_s=args.warmup,
            duration_s=args.duration,
        )
        if not process.running():
            raise BenchError("cxgate died under load:\n" + process.log_tail())
        out.update(result)
        out["cpu"] = cpu
        out["status"] = "ok"
        overall = result["overall"]
        log(
            f"{backend.name}: {overall['rps']:.0f} req/s ({result['journeys_per_s']:.1f} "
            f"journeys/s), p50 {overall['p50_ms']} ms, p99 {overall['p99_ms']} ms, "
            f"{overall['failures']} failures | CPU % cxgate {cpu['server_pct']:.0f} wrk "
            f"{cpu['wrk_pct']:.0f} store {cpu['store_pct']:.0f} other {cpu['other_pct']:.0f}"
        )
    finally:
        procs.stop(process)
    return out


def verdict(backends: dict[str, Any]) -> dict[str, Any]:
    measured = backends.get(TARGET_BACKEND, {})
    rps = measured.get("overall", {}).get("rps") if measured.get("status") == "ok" else None
    failures = measured.get("overall", {}).get("failures", 0)
    return {
        "anchor_rps_per_core": ANCHOR_RPS_PER_CORE,
        "target_rps": TARGET_RPS,
        "target_backend": TARGET_BACKEND,
        "rps": rps,
        "met": rps is not None and rps >= TARGET_RPS and failures == 0,
        "times_anchor": round(rps / ANCHOR_RPS_PER_CORE, 2) if rps else None,
    }


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def render_markdown(report: dict[str, Any]) -> str:
    settings, machine = report["settings"], report["machine"]
    lines = [
        "# Context Services: the Genesys sizing scenario",
        "",
        f"Run {report['started_at']} → {report['finished_at']} (UTC), commit "
        f"`{(machine.get('git_commit') or 'unknown')[:12]}`. Machine: {machine['nproc']} CPUs "
        f"({machine['cpu_model']}), Python {machine['python']}, {machine['wrk']}; load average "
        f"(1 min) at start {machine['loadavg_at_start'][0]:.2f}.",
        "",
        f"One journey = {REQUESTS_PER_JOURNEY} requests: service start, {STATES} x (state start, "
        f"{TASKS_PER_STATE} x (task start, task end), state end), service end, customer query. "
        f"{settings['connections']} connections (wrk, one per thread, each running journeys "
        f"back to back), one `cxgate serve` worker (`--workers 1 --no-access-log`), "
        f"{settings['duration_s']:g} s measured after a {settings['warmup_s']:g} s warm-up in "
        f"the same wrk run (answers that came back within the window). Latencies are per "
        f"request, timed by the wrk script; req/s counts answers with the expected status.",
        "",
    ]
    for name, data in report["backends"].items():
        lines.append(f"## {name}")
        lines.append("")
        if data.get("status") != "ok":
            lines += [f"Not measured: {data.get('error', 'unknown error')}", ""]
            continue
        cpu = data["cpu"]
        lines += [
            "| request | per journey | req/s | p50 ms | p90 ms | p99 ms | max ms | failures |",
            "|---|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for kind, row in data["by_type"].items():
            method, path, _ = KINDS[kind]
            lines.append(
                f"| {kind} (`{method} {path}`) | {PER_JOURNEY[kind]} | {_num(row['rps'])} | "
                f"{_num(row['p50_ms'], 2)} | {_num(row['p90_ms'], 2)} | "
                f"{_num(row['p99_ms'], 2)} | {_num(row['max_ms'], 1)} | {row['failures']} |"
            )
        overall = data["overall"]
        lines += [
            f"| **overall** | {REQUESTS_PER_JOURNEY} | **{_num(overall['rps'])}** | "
            f"{_num(overall['p50_ms'], 2)} | {_num(overall['p90_ms'], 2)} | "
            f"{_num(overall['p99_ms'], 2)} | {_num(overall['max_ms'], 1)} | "
            f"{overall['failures']} |",
            "",
            f"{data['journeys']:,} journeys completed ({data['journeys_per_s']:.1f}/s). CPU in "
            f"% of one core: cxgate {cpu['server_pct']:.0f}, wrk {cpu['wrk_pct']:.0f}, store "
            f"{cpu['store_pct']:.0f}, other {cpu['other_pct']:.0f} (of "
            f"{cpu['machine_capacity_pct']:.0f}). CPU per request: cxgate "
            f"{_num(cpu['server_us_per_request'])} µs, store "
            f"{_num(cpu['store_us_per_request'])} µs, wrk {_num(cpu['wrk_us_per_request'])} µs; "
            f"a fully busy cxgate core would serve {_num(cpu['rps_per_server_core'])} req/s at "
            f"that cost. Load average (1 min) {cpu['loadavg_1m_start']:.2f} at the start of "
            f"the measured window, {cpu['loadavg_1m_end']:.2f} at its end.",
            "",
        ]
        if data["failure_examples"]:
            lines += ["Failures, first of each thread:", ""]
            lines += [f"- `{text[:160]}`" for text in data["failure_examples"]]
            lines.append("")
    v = report["verdict"]
    times = "-" if v["times_anchor"] is None else f"{v['times_anchor']:g}x"
    lines += [
        "## Against the anchor and the target",
        "",
        f"Anchor: Genesys ~{v['anchor_rps_per_core']:.0f} requests/s per core at saturation. "
        f"Target: ≥ {v['target_rps']:,.0f} requests/s on one core with {v['target_backend']}. "
        f"Measured: {_num(v['rps'])} requests/s ({times} the anchor): "
        f"target **{'met' if v['met'] else 'missed'}**.",
        "",
        NOTES,
    ]
    return "\n".join(lines)


def write_results(report: dict[str, Any], results_dir: Path) -> list[Path]:
    results_dir.mkdir(parents=True, exist_ok=True)
    paths = [results_dir / "journey.json", results_dir / "journey.md"]
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
            raise SystemExit(f"bench.journey: unknown backend {name!r}; use sqlite,postgres")
    wrk = ensure_wrk()
    signal.signal(signal.SIGTERM, _sigterm)
    report: dict[str, Any] = {
        "started_at": now_iso(),
        "machine": machine_info(wrk_version(wrk)),
        "settings": {
            "connections": args.connections,
            "wrk_threads": args.connections,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "tenants": args.tenants,
            "customers_per_tenant": args.customers,
            "requests_per_journey": REQUESTS_PER_JOURNEY,
            "per_journey": PER_JOURNEY,
            "workers": 1,
            "postgres_url": args.postgres_url,
        },
        "backends": {},
    }
    with tempfile.TemporaryDirectory(prefix="cxgate-journey-") as tmp:
        workdir = Path(tmp)
        with ProcessSet() as procs:
            for name in names:
                backend = make_backend(
                    name,
                    workdir,
                    postgres_url=args.postgres_url,
                    redis_url="redis://127.0.0.1:6379/14",  # unused: no redis backend here
                )
                try:
                    report["backends"][name] = run_backend(
                        args, backend, wrk, procs, workdir / "logs"
                    )
                except (BenchError, WrkError, OSError, subprocess.SubprocessError) as exc:
                    log(f"{name}: not measured: {exc}")
                    report["backends"][name] = {"status": "error", "error": str(exc)}
                finally:
                    try:
                        backend.cleanup()
                    except BenchError as exc:
                        log(f"{name}: cleanup failed: {exc}")
    report["finished_at"] = now_iso()
    report["loadavg_at_end"] = list(os.getloadavg())
    report["verdict"] = verdict(report["backends"])
    for path in write_results(report, args.results_dir):
        log(f"wrote {path}")
    print(render_markdown(report))
    return 1 if args.strict and not report["verdict"]["met"] else 0


if __name__ == "__main__":
    sys.exit(main())
