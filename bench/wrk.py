"""Debian's wrk with a Lua script whose done() prints one line `RESULT {json}`."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile


def run_wrk(script: str, base: str, connections: int, seconds: int, *args: str) -> dict:
    """wrk -t2 (this machine's 2 cores) for `seconds` against `base`, `args` passed to the
    script's init(); the script's RESULT line, parsed."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        output = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
             "-s", file.name, base, "--", *args],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        os.unlink(file.name)
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    return dict(json.loads(line.removeprefix("RESULT ")))
