"""Turning request bodies and websocket frames into Bayeux messages, and replies into JSON.

A batch is a JSON array of message objects; a lone object is accepted as a batch of one.
Every message must carry a string `channel`. A batch that breaks these rules is refused
whole, with one error reply per offending element, so a transport never has to guess
which half of a half-valid batch the client meant.
"""

from __future__ import annotations

from typing import Any

import orjson

from cxgate.cometd.errors import BayeuxError

Message = dict[str, Any]


class MalformedBatch(Exception):
    """The input is not a batch of Bayeux messages; `replies` says why, per message."""

    def __init__(self, replies: list[Message]) -> None:
        super().__init__(replies[0]["error"] if replies else "malformed batch")
        self.replies = replies


def error_reply(error: BayeuxError, request: object = None, **fields: Any) -> Message:
    """An unsuccessful reply to `request`, echoing its channel and id when it has them."""
    reply: Message = {}
    if isinstance(request, dict):
        channel = request.get("channel")
        if isinstance(channel, str):
            reply["channel"] = channel
        if "id" in request:
            reply["id"] = request["id"]
    reply["successful"] = False
    reply["error"] = error.value
    reply.update(fields)
    return reply


def decode(raw: bytes | str) -> list[Message]:
    """Parse one request body or websocket frame; raise MalformedBatch when it is not a batch."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise MalformedBatch([error_reply(BayeuxError.INVALID_JSON)]) from None
    return validate(value)


def validate(value: object) -> list[Message]:
    """Check that a decoded JSON value is a batch of messages and return it as a list."""
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list):
        raise MalformedBatch([error_reply(BayeuxError.INVALID_MESSAGE)])
    errors: list[Message] = []
    for item in items:
        if not isinstance(item, dict):
            errors.append(error_reply(BayeuxError.INVALID_MESSAGE))
        elif not isinstance(item.get("channel"), str):
            errors.append(error_reply(BayeuxError.MISSING_CHANNEL, item))
    if errors:
        raise MalformedBatch(errors)
    return items


def encode(messages: list[Message]) -> bytes:
    return orjson.dumps(messages)
