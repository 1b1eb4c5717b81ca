"""Who a request speaks for and the roles there are, without I/O: what domains decide
permissions with. Tokens that name a principal are checked in services/common/auth.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

ROLES = frozenset({"admin", "editor", "author", "moderator"})
ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """Who a verified token speaks for."""

    user_id: int
    name: str
    roles: frozenset[str]
    expires_at: datetime
    # The sign-in session the token was renewed from (articles ends it on sign-out); None
    # for a token asked for with a password (/api/v1/auth/token).
    session_id: int | None = None

    def has_role(self, *wanted: str) -> bool:
        """True if the principal holds one of `wanted`; admin holds every role."""
        return ADMIN in self.roles or not self.roles.isdisjoint(wanted)
