"""Token-signing key pairs and hand-made tokens (valid, forged, tampered) for auth tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from services.common import auth


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    public_pem: str


def new_keypair() -> KeyPair:
    private_pem, public_pem = auth.generate_keypair()
    return KeyPair(private_pem, public_pem)


def claims(user_id: int = 7, **overrides: Any) -> dict[str, Any]:
    """A full, currently valid claim set; overrides replace (or, with None, remove) claims."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": auth.ISSUER,
        "aud": auth.AUDIENCE,
        "sub": str(user_id),
        "name": "Nguyễn Văn A",
        "roles": ["editor"],
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(keys: KeyPair, payload: dict[str, Any]) -> str:
    return jwt.encode(payload, keys.private_pem, algorithm="EdDSA")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def unsigned(payload: dict[str, Any]) -> str:
    """An 'alg: none' token: a header and payload with an empty signature."""
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(payload).encode())}."


def tampered(token: str, **changes: Any) -> str:
    """The token with its payload edited and its original signature kept."""
    header, payload, signature = token.split(".")
    edited = json.loads(_unb64(payload)) | changes
    return f"{header}.{_b64(json.dumps(edited).encode())}.{signature}"


def hmac_signed(payload: dict[str, Any], secret: str) -> str:
    """An HS256 token keyed with `secret`: the algorithm-confusion attack when the secret
    is the public key every service knows."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{header}.{_b64(json.dumps(payload).encode())}"
    digest = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(digest)}"
