"""Export of a space's services: streamed as one JSON array, or written as files.

Both read the store in pages on a (started_at, service_id) cursor, oldest first, so memory holds
one page (or one file) whatever the store holds. Each service comes whole: every state and
task, all attached data. Files go into a fresh directory per export under `[cs] export_dir`
(named by cxgate, never by the tenant), written under a hidden name first and renamed when
complete: an export that fails leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import structlog

from cxgate.errors import Unavailable
from cxgate.journey import filters
from cxgate.journey.context import JourneyContext
from cxgate.journey.models import EVERYTHING, JsonObject, ServiceRecord, Space, TimeWindow
from cxgate.journey.times import now_ms
from cxgate.journey.views import Extensions, Selection, render_service

log = structlog.get_logger("cxgate.journey")

PAGE = 200
_ALL = Extensions(Selection(every=True), Selection(every=True), Selection(every=True))


def window(params: filters.Params) -> TimeWindow:
    """`time_from` (inclusive) .. `time_to` (exclusive), on the start time; both optional."""
    return TimeWindow(
        filters.time_param(params, "time_from"), filters.time_param(params, "time_to")
    )


def whole(record: ServiceRecord) -> JsonObject:
    return render_service(record, _ALL, EVERYTHING)


async def pages(
    ctx: JourneyContext, space: Space, span: TimeWindow, size: int = PAGE
) -> AsyncIterator[list[ServiceRecord]]:
    after: tuple[int, str] | None = None
    while True:
        page = await ctx.store.export_page(space, span, after, size)
        if page:
            yield page
        if len(page) < size:
            return
        after = (page[-1].started_at, page[-1].service_id)


def stream(ctx: JourneyContext, *, space: Space, params: filters.Params) -> AsyncIterator[bytes]:
    """The chunks of a JSON array. Parameters are checked now, before the 200 goes out."""
    return _chunks(ctx, space, window(params))


async def _chunks(ctx: JourneyContext, space: Space, span: TimeWindow) -> AsyncIterator[bytes]:
    yield b"["
    first = True
    try:
        async for page in pages(ctx, space, span):
            body = b",".join(orjson.dumps(whole(record)) for record in page)
            yield body if first else b"," + body
            first = False
    except Exception:
        # The 200 is long gone: all that is left is to cut the array short (the client sees
        # invalid JSON, never a silently shorter list) and to say why in the log.
        log.exception("export stream failed; the response is cut short")
        raise
    yield b"]"


async def write_files(ctx: JourneyContext, *, space: Space, params: filters.Params) -> JsonObject:
    span = window(params)
    size = ctx.config.export_file_size
    stamp = now_ms(ctx.clock)
    name = f"export-{stamp}-{secrets.token_hex(4)}"
    root = Path(ctx.config.export_dir)
    partial, final = root / f".{name}.partial", root / name
    created: list[str] = []
    try:
        await asyncio.to_thread(partial.mkdir, parents=True)
        batch: list[JsonObject] = []
        async for page in pages(ctx, space, span, min(size, PAGE)):
            for record in page:
                batch.append(whole(record))
                if len(batch) == size:
                    created.append(await _write(partial, len(created) + 1, batch))
                    batch = []
        if batch:
            created.append(await _write(partial, len(created) + 1, batch))
        if created:
            await asyncio.to_thread(partial.rename, final)
        else:
            await asyncio.to_thread(shutil.rmtree, partial, True)
    except OSError as exc:
        await asyncio.to_thread(shutil.rmtree, partial, True)
        raise Unavailable(f"cannot write export files under {root}: {exc.strerror}") from exc
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, partial, True)
        raise
    answer: JsonObject = {"created": ", ".join(created)}
    if created:
        answer["directory"] = str(final)
    return answer


async def _write(folder: Path, number: int, services: list[JsonObject]) -> str:
    name = f"services_{number}.json"
    data = orjson.dumps(services)
    await asyncio.to_thread((folder / name).write_bytes, data)
    return name
