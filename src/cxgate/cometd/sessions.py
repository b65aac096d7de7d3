"""Client sessions: their outgoing queues, held `/meta/connect`s, subscriptions and expiry.

Queue overflow policy: each session queues at most `max_queue` messages; past that the
OLDEST queued message is dropped (and counted in `Session.dropped`). A client that falls
behind keeps its session and its subscriptions and sees the most recent messages, which is
what matters for state-change notifications; forcing it to re-handshake would lose the very
messages that arrive while it does.

Expiry: a session whose client has sent nothing for longer than `max_interval` seconds,
and has no `/meta/connect` held, is gone. Any message counts as a sign of life, and the
clock restarts when a held connect ends, as in CometD. Expired sessions are refused at
once when looked up, and the sweeper removes them (and their subscriptions) for good.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import Callable, Iterator

from cxgate.cometd.channels import SubscriptionIndex
from cxgate.cometd.errors import BayeuxError
from cxgate.cometd.messages import Message


class Session:
    """One handshaken client. Its queue is filled by deliveries and emptied by connects."""

    def __init__(self, client_id: str, *, max_queue: int, now: float) -> None:
        self.client_id = client_id
        self.subscriptions: set[str] = set()
        self.queue: deque[Message] = deque(maxlen=max_queue)
        self.dropped = 0
        self.last_seen = now
        # The first /meta/connect after a handshake is answered at once, so that the client
        # learns it is connected before it starts waiting for messages.
        self.connected = False
        # Why the session ended, once it has: a held connect reads it to choose its reply.
        self.ended: BayeuxError | None = None
        self._waiter: asyncio.Future[None] | None = None

    @property
    def holding(self) -> bool:
        """Whether a `/meta/connect` is held for this session right now."""
        return self._waiter is not None

    def enqueue(self, message: Message) -> None:
        if self.queue.maxlen is not None and len(self.queue) == self.queue.maxlen:
            self.dropped += 1  # the deque drops the oldest message itself
        self.queue.append(message)
        self.wake()

    def drain(self) -> list[Message]:
        messages = list(self.queue)
        self.queue.clear()
        return messages

    def wake(self) -> None:
        """Release the held connect, if any, so that it replies now."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def hold(self, seconds: float) -> bool:
        """Wait until woken or `seconds` pass; False when a newer connect took over.

        A client has one connect outstanding at a time; a second one means the first was
        abandoned (a dropped HTTP request, a new websocket), so the first is released at
        once and must not take the queued messages with it.
        """
        self.wake()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        try:
            async with asyncio.timeout(seconds):
                await waiter
        except TimeoutError:
            pass
        finally:
            current = self._waiter is waiter
            if current:
                self._waiter = None
        return current

    def end(self, reason: BayeuxError) -> None:
        self.ended = reason
        self.queue.clear()
        self.wake()


class SessionStore:
    """All live sessions of one server, with the subscription index they share."""

    def __init__(self, *, max_interval: float, max_queue: int, clock: Callable[[], float]) -> None:
        self.max_interval = max_interval
        self.max_queue = max_queue
        self.clock = clock
        self.index = SubscriptionIndex()
        self._sessions: dict[str, Session] = {}

    def create(self) -> Session:
        client_id = secrets.token_urlsafe(18)
        session = Session(client_id, max_queue=self.max_queue, now=self.clock())
        self._sessions[client_id] = session
        return session

    def get(self, client_id: object) -> Session | None:
        """The live session for `client_id`, refreshing its activity; None if unknown or expired."""
        if not isinstance(client_id, str):
            return None
        session = self._sessions.get(client_id)
        if session is None:
            return None
        now = self.clock()
        if self._expired(session, now):
            self.remove(session, BayeuxError.UNKNOWN_CLIENT)
            return None
        session.last_seen = now
        return session

    def subscribe(self, session: Session, pattern: str) -> None:
        session.subscriptions.add(pattern)
        self.index.add(pattern, session.client_id)

    def unsubscribe(self, session: Session, pattern: str) -> None:
        session.subscriptions.discard(pattern)
        self.index.discard(pattern, session.client_id)

    def subscribers(self, channel: str) -> list[Session]:
        found = (self._sessions.get(cid) for cid in self.index.subscribers(channel))
        return [session for session in found if session is not None]

    def remove(self, session: Session, reason: BayeuxError) -> None:
        """End `session` and drop every trace of it: its subscriptions leave the index."""
        if self._sessions.get(session.client_id) is session:
            del self._sessions[session.client_id]
        self.index.discard_all(session.subscriptions, session.client_id)
        session.subscriptions.clear()
        session.end(reason)

    def sweep(self) -> int:
        """Remove every expired session; return how many went."""
        now = self.clock()
        expired = [s for s in self._sessions.values() if self._expired(s, now)]
        for session in expired:
            self.remove(session, BayeuxError.UNKNOWN_CLIENT)
        return len(expired)

    def clear(self, reason: BayeuxError) -> None:
        for session in list(self._sessions.values()):
            self.remove(session, reason)

    def _expired(self, session: Session, now: float) -> bool:
        return not session.holding and now - session.last_seen > self.max_interval

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))
