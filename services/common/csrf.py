"""CSRF tokens of the desk's forms (articles' desk pages, feedback's moderation desk): an
HMAC of the signed-in session, so a form posted from another site, which cannot read the
page, cannot carry a valid one. No I/O: domains may use it (feedback's spam.py does)."""

from __future__ import annotations

import hashlib
import hmac


class CsrfTokens:
    """Makes and checks the tokens of one secret (at least 16 bytes)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the CSRF secret must be at least 16 bytes")
        self._secret = secret

    def token(self, session: str) -> str:
        """The token of the forms shown to this session."""
        digest = hashlib.sha256(session.encode()).hexdigest()
        return hmac.new(self._secret, f"csrf:{digest}".encode(), hashlib.sha256).hexdigest()

    def check(self, session: str, given: str | None) -> bool:
        """True if `given` is this session's token (never for no session at all)."""
        # Bytes: compare_digest refuses non-ASCII str, and `given` comes from the request.
        return bool(session) and hmac.compare_digest(
            self.token(session).encode(), (given or "").encode()
        )
