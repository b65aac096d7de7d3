"""`receive_by(receive, deadline)`: the next ASGI message, or TimeoutError at `deadline`.

A request body nearly always arrives with its headers, before the handler asks for it: the
server's `receive()` then returns without suspending. `asyncio.timeout` would still schedule a
timer and cancel it (about 5 µs on uvloop, on every request with a body). So the first step of
`receive()` runs at once, and only if it has to wait does the rest run under `asyncio.timeout_at`:
a body trickling in slowly still gets its 408, at the same deadline as before.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Generator
from typing import Any

from starlette.types import Message, Receive


async def receive_by(receive: Receive, deadline: float) -> Message:
    steps = receive().__await__()
    try:
        waiting_on = steps.send(None)
    except StopIteration as done:
        message: Message = done.value  # it was there already: no timer
        return message
    async with asyncio.timeout_at(deadline):
        return await _resume(steps, waiting_on)


@types.coroutine
def _resume(steps: Generator[Any, Any, Message], waiting_on: Any) -> Generator[Any, Any, Message]:
    """Finish an awaitable whose first step ran already: hand the event loop what it waits on,
    and pass what comes back (a result, or an exception such as the timeout's cancellation)
    into it, as `await` would have done."""
    while True:
        try:
            sent = yield waiting_on
        except BaseException as exc:  # thrown into the task: it is the awaitable's to handle
            try:
                waiting_on = steps.throw(exc)
            except StopIteration as done:
                message: Message = done.value
                return message
        else:
            try:
                waiting_on = steps.send(sent)
            except StopIteration as done:
                message = done.value
                return message
