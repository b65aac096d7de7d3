"""`Lanes`: the journey store's PostgreSQL connections, lent out per call at little cost.

asyncpg's pool costs about 30 µs of CPU per acquire and release (a task for the acquire's
timeout, another for the release's shield, a timer, a proxy object), as much as the one
statement that most journey calls now send. Lanes take connections from that pool once and
keep them: a call takes an idle one from a list, or waits its turn in order of arrival, and
gives it back to the list, or straight to the next in line.

A connection goes back to asyncpg's pool (which resets it, or terminates and later replaces
it) whenever a call ended in a way that may have left it unusable: a driver error, a
timeout or a cancellation, or a transaction still open. Errors of cxgate's own (not found,
already ended) leave it as good as before. Connections stay with the lanes once opened (at
most the pool's `pool_max`), so the pool's closing of idle connections no longer applies.
"""

from __future__ import annotations

import asyncio
from collections import deque

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from cxgate.errors import CxgateError


class Lanes:
    def __init__(self, pool: asyncpg.Pool, size: int, timeout: float) -> None:
        self.pool = pool
        self.size = size  # connections held at most: the pool's own maximum
        self.timeout = timeout
        self.held = 0
        self.idle: list[PoolConnectionProxy] = []
        self.waiting: deque[asyncio.Future[PoolConnectionProxy | None]] = deque()
        self.closed = False

    async def take(self) -> PoolConnectionProxy:
        """A connection for one call; TimeoutError when none comes free within `timeout`."""
        if self.idle:
            return self.idle.pop()
        if self.held < self.size and not self.closed:
            self.held += 1
            try:
                conn: PoolConnectionProxy = await self.pool.acquire(timeout=self.timeout)
            except BaseException:
                self.held -= 1
                self._wake(None)  # whoever waits may try to open it in turn
                raise
            return conn
        return await self._wait()

    async def _wait(self) -> PoolConnectionProxy:
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[PoolConnectionProxy | None] = loop.create_future()
        self.waiting.append(turn)
        # A bare timer that fails the turn: asyncio.timeout would cost a few µs more, and most
        # calls of a busy node wait here.
        timer = loop.call_at(loop.time() + self.timeout, _expire, turn)
        try:
            conn = await turn
        except BaseException:
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                handed = turn.result()  # handed over just as the wait ended: pass it on
                if handed is None:
                    self._wake(None)
                else:
                    self._pass_on(handed)
            raise
        finally:
            timer.cancel()
            if not turn.done():  # (`_wake` drops turns that are done, expired ones too)
                self.waiting.remove(turn)
        if conn is None:  # a lane went back to the pool: open it again for this call
            return await self.take()
        return conn

    async def give_back(self, conn: PoolConnectionProxy, error: BaseException | None) -> None:
        reusable = (
            error is None or (isinstance(error, CxgateError) and not conn.is_in_transaction())
        ) and not conn.is_closed()
        if reusable and not self.closed:
            self._pass_on(conn)
            return
        self.held -= 1
        try:
            await self.pool.release(conn)
        finally:
            self._wake(None)  # a lane is free to be opened again

    def _pass_on(self, conn: PoolConnectionProxy) -> None:
        if not self._wake(conn):
            self.idle.append(conn)

    def _wake(self, conn: PoolConnectionProxy | None) -> bool:
        while self.waiting:
            turn = self.waiting.popleft()
            if not turn.done():
                turn.set_result(conn)
                return True
        return False

    async def close(self) -> None:
        """Give every idle connection back to the pool (calls still running give theirs back
        when they finish), so that the pool can close."""
        self.closed = True
        idle, self.idle = self.idle, []
        for conn in idle:
            self.held -= 1
            await self.pool.release(conn)


def _expire(turn: asyncio.Future[PoolConnectionProxy | None]) -> None:
    if not turn.done():
        turn.set_exception(TimeoutError("no PostgreSQL connection came free in time"))
