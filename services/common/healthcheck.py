"""Container health check: `python -m services.common.healthcheck [path]` exits 0 when the
service on HTTP_PORT answers 200 on /readyz (or the given path), 1 otherwise. Images have
no curl; this needs nothing beyond the standard library."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else "/readyz"
    url = f"http://127.0.0.1:{os.environ.get('HTTP_PORT', '8000')}{path}"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError):
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
