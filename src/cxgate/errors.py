"""The domain error tree. It knows nothing of HTTP: `cxgate.http.errors` maps it to responses."""

from __future__ import annotations


class CxgateError(Exception):
    """Base of every error cxgate raises on purpose; `message` is safe to show to a client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(CxgateError):
    """The request is malformed or breaks a rule; nothing was changed."""


class MalformedJson(BadRequest):
    """A JSON body could not be parsed (GMS answers this one with 500, as it documents)."""


class MalformedBody(BadRequest):
    """A urlencoded or multipart body could not be parsed."""


class TooManyKeys(BadRequest):
    """A write would take a storage area past its configured number of keys; nothing changed."""


class BodyTimeout(BadRequest):
    """The request body did not arrive in time (a slow or stalled client)."""


class AlreadyEnded(BadRequest):
    """A Context Services service, state or task was asked to end a second time."""


class NotFound(CxgateError):
    """The addressed resource does not exist (or is not visible to this caller)."""


class AreaNotFound(NotFound):
    """A GMS service or storage area does not exist, has expired or belongs to someone else."""


class KeyNotFound(NotFound):
    """A storage key does not exist in an existing area."""


class Conflict(CxgateError):
    """The request collides with the current state (a custom storage id owned by another user)."""


class PayloadTooLarge(CxgateError):
    """The request body is larger than the configured limit."""


class Unavailable(CxgateError):
    """A resource cxgate needs is not available right now; retrying later may work."""


class PoolExhausted(Unavailable):
    """No access number of a resource group is free."""


class StoreUnavailable(Unavailable):
    """The store did not answer (connection refused, timeout, ...)."""


class ReadOnly(Unavailable):
    """Writes are refused while the cluster is in maintenance mode; reads still work."""


class BusUnavailable(Unavailable):
    """The notification bus did not answer; other nodes miss what is published meanwhile."""


class UpstreamError(CxgateError):
    """An HTTP strategy endpoint failed or answered with an error."""


class UpstreamTimeout(UpstreamError):
    """An HTTP strategy endpoint did not answer in time."""


class ConfigError(CxgateError):
    """The configuration cannot work; the message names the bad key and the fix."""
