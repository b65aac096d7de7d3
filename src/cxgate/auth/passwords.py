"""Password hashes (argon2id) and their verification.

Argon2 is memory-hard on purpose, and so costs a few hundred milliseconds here. Verifying on every
request would cap a node at a handful of requests per second, so a verified (user, password) pair
is remembered for a short while, keyed by a salted SHA-256 of the password that never leaves the
process. Verification runs in a worker thread so that it never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()
_HASH_PREFIXES = ("$argon2id$", "$argon2i$", "$argon2d$")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def looks_hashed(value: str) -> bool:
    """True for an argon2 hash; configuration refuses anything else (a plain-text password)."""
    return value.startswith(_HASH_PREFIXES)


def verify_now(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class CachedVerifier:
    """Verifies passwords against hashes, remembering successes for `ttl` seconds."""

    def __init__(self, *, ttl: float = 300.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._salt = os.urandom(16)
        self._verified: dict[str, tuple[bytes, float]] = {}

    def _digest(self, password: str) -> bytes:
        return hashlib.sha256(self._salt + password.encode("utf-8")).digest()

    async def verify(self, password_hash: str, password: str) -> bool:
        digest = self._digest(password)
        remembered = self._verified.get(password_hash)
        if (
            remembered is not None
            and remembered[1] > time.monotonic()
            and hmac.compare_digest(remembered[0], digest)
        ):
            return True
        ok = await asyncio.to_thread(verify_now, password_hash, password)
        if ok:
            if len(self._verified) >= self.max_entries:
                self._verified.clear()
            self._verified[password_hash] = (digest, time.monotonic() + self.ttl)
        return ok
