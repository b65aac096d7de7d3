"""Credentials from the configuration, and checking a caller's against them."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cxgate.auth.passwords import CachedVerifier
from cxgate.config import FileConfig


@dataclass(frozen=True, slots=True)
class Caller:
    name: str
    roles: frozenset[str]
    kind: str  # "user" (a [users] entry) or "gms" (GMS's server or service credentials)


@dataclass(frozen=True, slots=True)
class Credential:
    username: str | None
    password_hash: str | None  # None: a username alone, which GMS does not enforce


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic ...` header, or None if absent/garbled."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class Authenticator:
    def __init__(self, config: FileConfig) -> None:
        self.users = {
            name: (u.password_hash, frozenset(u.roles)) for name, u in config.users.items()
        }
        server = config.server
        self.server_credential = (
            Credential(server.username, server.password) if server.password else None
        )
        self.service_credentials = {
            name: Credential(svc.username, svc.password)
            for name, svc in config.service.items()
            if svc.username is not None or svc.password is not None
        }
        self.verifier = CachedVerifier()

    @property
    def users_configured(self) -> bool:
        return bool(self.users)

    @property
    def gms_credentials_configured(self) -> bool:
        return self.server_credential is not None or any(
            c.password_hash for c in self.service_credentials.values()
        )

    async def user(self, user: str, password: str) -> Caller | None:
        entry = self.users.get(user)
        if entry is None:
            # Spend the same time as a real check so that timing does not reveal user names.
            await self.verifier.verify(_DUMMY_HASH, password)
            return None
        if await self.verifier.verify(entry[0], password):
            return Caller(user, entry[1], "user")
        return None

    def gms_credential_for(self, service_name: str | None) -> Credential | None:
        """The GMS credential a call must present: the service's own replaces the server's."""
        if service_name is not None and service_name in self.service_credentials:
            own = self.service_credentials[service_name]
            return own if own.password_hash else None
        return self.server_credential

    async def gms(self, credential: Credential, user: str, password: str) -> Caller | None:
        assert credential.password_hash is not None
        if credential.username is not None and user != credential.username:
            await self.verifier.verify(_DUMMY_HASH, password)
            return None
        if await self.verifier.verify(credential.password_hash, password):
            return Caller(user, frozenset(), "gms")
        return None


# A valid argon2 hash of a random password, checked against when the user name is unknown.
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$H4wT6YUE1hIxFLheNNDfTw$"
    "7Hts0nSkyTnueNGjMx1+rcLXqGm2ehJmJhW8NdWZD4U"
)
