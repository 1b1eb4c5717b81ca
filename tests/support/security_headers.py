"""What every answer of the gateway must carry (issue 13): a Content-Security-Policy whose
scripts come from the site only, with frame-ancestors; nosniff; a Referrer-Policy; and
X-Frame-Options for browsers without frame-ancestors."""

from __future__ import annotations

from collections.abc import Mapping

HSTS_DEFAULT = "max-age=31536000"


def missing_security_headers(headers: Mapping[str, str]) -> list[str]:
    """The security headers an answer lacks (empty when it has them all)."""
    csp = headers.get("Content-Security-Policy", "")
    directives = {part.split()[0]: part for part in csp.split(";") if part.split()}
    missing = []
    if "script-src" not in directives or "'unsafe-inline'" in directives["script-src"]:
        missing.append("CSP script-src without 'unsafe-inline'")
    if "frame-ancestors" not in directives:
        missing.append("CSP frame-ancestors")
    if headers.get("X-Content-Type-Options") != "nosniff":
        missing.append("X-Content-Type-Options: nosniff")
    if not headers.get("Referrer-Policy"):
        missing.append("Referrer-Policy")
    if headers.get("X-Frame-Options") not in ("DENY", "SAMEORIGIN"):
        missing.append("X-Frame-Options")
    return missing
