"""The rate limit on receipt lookups (/tra-cuu-phan-hoi), without I/O: each visitor may look
codes up a few times per window, so nobody can try codes in bulk. A visitor is a keyed
hash (HMAC-SHA256 under the service's secret) of the client address: the address itself
is never kept. The counts live in the process (a lookup changes nothing worth a database
write); the gateway's limit_req on the same path bounds the total across instances."""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass, field

LOOKUPS_PER_WINDOW = 10
WINDOW_SECONDS = 600.0
# Past this many visitors in memory, expired windows are swept on the next lookup.
SWEEP_ABOVE = 10_000


@dataclass
class LookupLimiter:
    secret: bytes
    limit: int = LOOKUPS_PER_WINDOW
    window: float = WINDOW_SECONDS
    # visitor key -> (window start, lookups in it)
    _windows: dict[str, tuple[float, int]] = field(default_factory=dict)

    def visitor(self, address: str) -> str:
        return hmac.new(self.secret, f"lookup:{address}".encode(), hashlib.sha256).hexdigest()

    def take(self, address: str, now: float) -> int | None:
        """Count one lookup; None if allowed, else the seconds until the visitor may try again."""
        if len(self._windows) > SWEEP_ABOVE:
            self._sweep(now)
        key = self.visitor(address)
        start, used = self._windows.get(key, (now, 0))
        if now - start >= self.window:
            start, used = now, 0
        if used >= self.limit:
            return max(1, math.ceil(start + self.window - now))
        self._windows[key] = (start, used + 1)
        return None

    def _sweep(self, now: float) -> None:
        self._windows = {
            key: (start, used)
            for key, (start, used) in self._windows.items()
            if now - start < self.window
        }
