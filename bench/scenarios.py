"""The five loads, the data they need, and the target ratio each must reach.

Every scenario sends the same request to cxgate and, for its baseline, to the bare ASGI app
(same method, same body, same paths), so the ratio compares like with like. Reads and updates
cycle over `--ids` services or areas (64 by default, one per connection) instead of hammering a
single row, as real traffic spread over many sessions would.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from bench.servers import BenchError

FORM = "application/x-www-form-urlencoded"
SERVICE_NAME = "store"  # the `session` service of src/cxgate/demo.toml
READ_KEY = "customer_id"

# Creation data of a service: a few fields as a web page or an IVR would send them.
SERVICE_FIELDS = urlencode(
    {
        "first_name": "Ada",
        "last_name": "Lovelace",
        READ_KEY: "C-0042-7781",
        "phone": "+33612345678",
        "reason": "billing question",
    }
)
# Five keys written to a service's storage in one POST.
STORAGE_FIELDS = urlencode(
    {
        "step": "identified",
        "language": "fr-FR",
        "queue": "billing",
        "priority": "5",
        "last_menu": "1-3-2",
    }
)
# The body of a Storage API area.
AREA_FIELDS = urlencode(
    {
        "order": "A-77-1290",
        "status": "shipped",
        "carrier": "ups",
        "eta": "2025-11-24",
        "note": "leave at the door",
    }
)
AREA_TTL = 3600  # seconds: the areas read by storage_read outlive the whole run

TARGET_READ = 0.30  # storage GET >= 0.30 of bare ASGI
TARGET_WRITE = 0.15  # storage POST and creations >= 0.15 of bare ASGI


@dataclass(frozen=True, slots=True)
class Fixtures:
    service_ids: list[str]
    area_ids: list[str]


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: str
    method: str
    path_example: str  # for the report: the path with {id} left in
    body: str | None
    target: float
    paths: Callable[[Fixtures], list[str]]

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": FORM} if self.body is not None else {}


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="create_service",
        title="create service",
        method="POST",
        path_example=f"/genesys/1/service/{SERVICE_NAME}",
        body=SERVICE_FIELDS,
        target=TARGET_WRITE,
        paths=lambda f: [f"/genesys/1/service/{SERVICE_NAME}"],
    ),
    Scenario(
        name="service_storage_get",
        title="service storage GET one key",
        method="GET",
        path_example="/genesys/1/service/{id}/storage/" + READ_KEY,
        body=None,
        target=TARGET_READ,
        paths=lambda f: [f"/genesys/1/service/{i}/storage/{READ_KEY}" for i in f.service_ids],
    ),
    Scenario(
        name="service_storage_post",
        title="service storage POST 5 keys",
        method="POST",
        path_example="/genesys/1/service/{id}/storage",
        body=STORAGE_FIELDS,
        target=TARGET_WRITE,
        paths=lambda f: [f"/genesys/1/service/{i}/storage" for i in f.service_ids],
    ),
    Scenario(
        name="storage_create",
        title="Storage API create",
        method="POST",
        path_example="/genesys/1/storage/300",
        body=AREA_FIELDS,
        target=TARGET_WRITE,
        paths=lambda f: ["/genesys/1/storage/300"],
    ),
    Scenario(
        name="storage_read",
        title="Storage API read",
        method="GET",
        path_example="/genesys/1/storage/{id}",
        body=None,
        target=TARGET_READ,
        paths=lambda f: [f"/genesys/1/storage/{i}" for i in f.area_ids],
    ),
)
BY_NAME = {s.name: s for s in SCENARIOS}


def select(names: str | None) -> list[Scenario]:
    """The scenarios named in a comma-separated list (all of them for None or "all")."""
    if not names or names.strip() == "all":
        return list(SCENARIOS)
    chosen = []
    for name in (n.strip() for n in names.split(",")):
        if not name:
            continue
        if name not in BY_NAME:
            raise SystemExit(f"bench: unknown scenario {name!r}; choose among {', '.join(BY_NAME)}")
        chosen.append(BY_NAME[name])
    return chosen


def request(base_url: str, method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
    """One plain HTTP request (fixtures and sanity checks; the load itself is wrk's)."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        headers = {"Content-Type": FORM} if body is not None else {}
        conn.request(
            method, path, body=body.encode() if body is not None else None, headers=headers
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _created_id(base_url: str, path: str, body: str, field: str) -> str:
    status, answer = request(base_url, "POST", path, body)
    if status != 200:
        raise BenchError(f"POST {path} answered {status}: {answer[:300]!r}")
    value = json.loads(answer).get(field)
    if not isinstance(value, str):
        raise BenchError(f"POST {path} answered no {field!r}: {answer[:300]!r}")
    return value


def prepare(base_url: str, count: int) -> Fixtures:
    """`count` services (holding READ_KEY) and `count` Storage API areas to read and update."""
    services = [
        _created_id(base_url, f"/genesys/1/service/{SERVICE_NAME}", SERVICE_FIELDS, "_id")
        for _ in range(count)
    ]
    areas = [
        _created_id(base_url, f"/genesys/1/storage/{AREA_TTL}", AREA_FIELDS, "id")
        for _ in range(count)
    ]
    return Fixtures(services, areas)


def check(base_url: str, scenario: Scenario, fixtures: Fixtures) -> None:
    """One request of the scenario must answer 200 before we load it."""
    path = scenario.paths(fixtures)[0]
    status, answer = request(base_url, scenario.method, path, scenario.body)
    if status != 200:
        raise BenchError(
            f"{scenario.name}: {scenario.method} {path} answered {status}: {answer[:300]!r}"
        )
