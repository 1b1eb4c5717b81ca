"""Receipt codes and idempotency keys, without I/O.

A receipt code is 10 characters of Crockford's base32 (digits and capitals without I, L,
O and U: nothing to confuse when read aloud or copied), 50 random bits, shown grouped as
"K7QM-4XTR-9B". Typing it back, case, spaces, hyphens and the look-alikes O/I/L are
forgiven. Only its SHA-256 is stored: a lookup hashes what was typed and finds the hash
through a unique index, so neither the stored codes nor the time a lookup takes tell how
close a guess came. 2**50 codes (about 10**15) against a few thousand cases and a
lookup rate limited per visitor make guessing one hopeless.

A case submitted with an idempotency key (the form's hidden token, or the API's
Idempotency-Key header) gets the code derived from that key with the service's secret
(HMAC-SHA256), so a retried submission shows the same code again without the code ever
being stored: only a holder of both the key and the secret can compute it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

# The status page a code is looked up on.
LOOKUP_PATH = "/tra-cuu-phan-hoi"
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 10
BITS = 5 * LENGTH
# What a reader may type for a character of the alphabet.
_LOOK_ALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-–.]+")
# The form's idempotency token: 16 random bytes, URL-safe base64 (22 characters).
FORM_TOKEN_BYTES = 16
_FORM_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
# The API's Idempotency-Key header: visible ASCII, like any header value worth keeping.
API_KEY_MAX = 255
_API_KEY = re.compile(r"[\x21-\x7e]{1,255}")


def _encode(number: int) -> str:
    chars = []
    for _ in range(LENGTH):
        number, digit = divmod(number, 32)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def new_code() -> str:
    """A fresh random code (secrets, not random)."""
    return _encode(secrets.randbits(BITS))


def code_for_key(secret: bytes, key_hash: str) -> str:
    """The code of the case submitted with this idempotency key: the same each time."""
    mac = hmac.new(secret, f"receipt:{key_hash}".encode(), hashlib.sha256).digest()
    return _encode(int.from_bytes(mac[:8], "big") >> (64 - BITS))


def grouped(code: str) -> str:
    """How a code is shown: "K7QM-4XTR-9B"."""
    return f"{code[:4]}-{code[4:8]}-{code[8:]}"


def normalise(typed: str) -> str | None:
    """The code a reader typed, in canonical form; None if it cannot be one."""
    code = _SEPARATORS.sub("", typed.upper()).translate(_LOOK_ALIKES)
    if len(code) != LENGTH or any(char not in ALPHABET for char in code):
        return None
    return code


def code_hash(code: str) -> str:
    """What is stored of a (canonical) code."""
    return hashlib.sha256(f"receipt:{code}".encode()).hexdigest()


def new_form_token() -> str:
    return secrets.token_urlsafe(FORM_TOKEN_BYTES)


def form_key_hash(token: str) -> str | None:
    """The stored key of a form's idempotency token; None for a missing or malformed one
    (the submission then simply has no key)."""
    if not _FORM_TOKEN.fullmatch(token):
        return None
    return hashlib.sha256(f"form:{token}".encode()).hexdigest()


def api_key_hash(key: str) -> str | None:
    """The stored key of an Idempotency-Key header; None if it is not a valid key."""
    if not _API_KEY.fullmatch(key):
        return None
    return hashlib.sha256(f"api:{key}".encode()).hexdigest()


def request_hash(*fields: object) -> str:
    """A fingerprint of an API request's fields, to tell the same key sent with another body."""
    return hashlib.sha256(repr(fields).encode()).hexdigest()
