"""Access tokens of secure mode (seeds/001, "Control Plane API for Token Management").

The control plane replaces the whole table at once; every replacement yields a
`Reconciliation` saying which live tokens disappeared and which changed, so the
signalling hub can disconnect the former and push an update to the latter.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ROLES = ("controller", "viewer")
MAX_TOKENS = 4096
MAX_TOKEN_LENGTH = 512


class TokenTableError(ValueError):
    """The JSON body of POST /tokens is not a valid token table; str() says why."""


@dataclass(frozen=True)
class Permissions:
    role: str
    slot: int | None
    mk_control: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "slot": self.slot, "mk_control": self.mk_control}


@dataclass(frozen=True)
class Reconciliation:
    revoked: frozenset[str]
    changed: Mapping[str, Permissions]


def parse_token_table(body: Any) -> dict[str, Permissions]:
    """Validate a decoded POST /tokens body into a token table."""
    if not isinstance(body, dict):
        raise TokenTableError("body must be a JSON object mapping token strings to permissions")
    if len(body) > MAX_TOKENS:
        raise TokenTableError(f"at most {MAX_TOKENS} tokens are accepted")
    table: dict[str, Permissions] = {}
    for token, spec in body.items():
        if not token or len(token) > MAX_TOKEN_LENGTH or token.strip() != token:
            raise TokenTableError(
                f"token {token[:32]!r} must be 1-{MAX_TOKEN_LENGTH} characters without "
                "leading or trailing whitespace"
            )
        if not isinstance(spec, dict):
            raise TokenTableError(f"permissions of token {token[:32]!r} must be an object")
        unknown = set(spec) - {"role", "slot", "mk_control"}
        if unknown:
            raise TokenTableError(f"token {token[:32]!r}: unknown fields {sorted(unknown)}")
        role = spec.get("role")
        if role not in ROLES:
            raise TokenTableError(f"token {token[:32]!r}: role must be one of {list(ROLES)}")
        if "slot" not in spec:
            raise TokenTableError(f"token {token[:32]!r}: slot is required (1-4 or null)")
        slot = spec["slot"]
        if slot is not None and (type(slot) is not int or not 1 <= slot <= 4):
            raise TokenTableError(f"token {token[:32]!r}: slot must be 1-4 or null")
        mk_control = spec.get("mk_control", False)
        if type(mk_control) is not bool:
            raise TokenTableError(f"token {token[:32]!r}: mk_control must be true or false")
        table[token] = Permissions(role=role, slot=slot, mk_control=mk_control)
    return table


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def secrets_equal(given: str, expected: str) -> bool:
    """Constant-time comparison of two secrets of any length."""
    return hmac.compare_digest(_digest(given), _digest(expected))


class TokenStore:
    """The live token table. Lookups compare against every entry in constant time."""

    def __init__(self) -> None:
        self._table: dict[str, Permissions] = {}

    def __len__(self) -> int:
        return len(self._table)

    def lookup(self, token: str) -> Permissions | None:
        wanted = _digest(token)
        found: Permissions | None = None
        # No early exit: the time taken does not tell how close a guess was.
        for candidate, permissions in self._table.items():
            if hmac.compare_digest(wanted, _digest(candidate)):
                found = permissions
        return found

    def replace(self, table: Mapping[str, Permissions], live: Iterable[str]) -> Reconciliation:
        """Install a new table; report what happened to the tokens in `live`."""
        old = self._table
        self._table = dict(table)
        revoked = frozenset(t for t in live if t not in self._table)
        changed = {
            t: self._table[t]
            for t in set(live)
            if t in self._table and t in old and old[t] != self._table[t]
        }
        return Reconciliation(revoked=revoked, changed=changed)

    def mk_control_holder(self) -> str | None:
        """The token granted exclusive mouse and keyboard, if any."""
        for token, permissions in self._table.items():
            if permissions.mk_control:
                return token
        return None
