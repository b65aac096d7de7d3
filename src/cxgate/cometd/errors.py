"""The Bayeux error strings this server sends, in one place.

Bayeux 1.0 error strings read `code:args:message`; `code` reuses the HTTP status numbers,
which is what both the CometD and Faye clients parse (Faye splits on `:`). None of ours
carries args, so every string is `code::message`.
"""

from __future__ import annotations

from enum import StrEnum


class BayeuxError(StrEnum):
    INVALID_JSON = "400::Invalid JSON"
    INVALID_MESSAGE = "400::A message must be a JSON object or an array of objects"
    MISSING_CHANNEL = "400::Missing channel"
    INVALID_CHANNEL = "400::Invalid channel"
    MISSING_SUBSCRIPTION = "400::Missing subscription"
    MISSING_DATA = "400::Missing data"
    UNSUPPORTED_CONNECTION_TYPE = "400::Unsupported connection type"
    UNKNOWN_CLIENT = "402::Unknown client"
    META_SUBSCRIPTION_DENIED = "403::Subscription to a meta channel denied"
    META_PUBLISH_DENIED = "403::Publish to a meta channel denied"
    WILDCARD_PUBLISH_DENIED = "403::Publish to a wildcard channel denied"
    MESSAGE_TOO_LARGE = "413::Message too large"
    SHUTTING_DOWN = "503::Server shutting down"

    @property
    def code(self) -> int:
        return int(self.value.split(":", 1)[0])
