"""Users of the admin and their roles: creation, changes, password checks, disabling.

Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106's low-memory profile).
Hashing is deliberately slow CPU work, so it runs in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.common import auth, db

ROLES = auth.ROLES
USERNAME_PATTERN = re.compile(r"[a-z0-9._-]{3,40}")
MIN_PASSWORD_LENGTH = 10
# Argon2 takes any length, but hashing megabytes on every login attempt is a cheap attack.
MAX_PASSWORD_LENGTH = 1024
MAX_DISPLAY_NAME_LENGTH = 100

_hasher = PasswordHasher()
_COLUMNS = "id, username, display_name, roles, disabled, created_at, updated_at"


class UserInputError(ValueError):
    """Input a user record cannot take; `message` is Vietnamese, for the person who typed it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class WeakPasswordError(UserInputError):
    pass


class UsernameTakenError(UserInputError):
    pass


@dataclass(frozen=True)
class User:
    """A user as the rest of the code sees one: the password hash never leaves this module."""

    id: int
    username: str
    display_name: str
    roles: frozenset[str]
    disabled: bool
    created_at: datetime
    updated_at: datetime


def _user(row: asyncpg.Record) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        roles=frozenset(row["roles"]),
        disabled=row["disabled"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def normalize_username(raw: str) -> str:
    username = raw.strip().lower()
    if not USERNAME_PATTERN.fullmatch(username):
        raise UserInputError(
            "username",
            "Tên đăng nhập phải dài 3–40 ký tự, chỉ gồm chữ cái không dấu, chữ số và . _ -",
        )
    return username


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(
            "password", f"Mật khẩu phải có ít nhất {MIN_PASSWORD_LENGTH} ký tự."
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPasswordError(
            "password", f"Mật khẩu không được dài quá {MAX_PASSWORD_LENGTH} ký tự."
        )


def check_roles(roles: Iterable[str]) -> frozenset[str]:
    wanted = frozenset(roles)
    if not wanted or not wanted <= ROLES:
        raise UserInputError(
            "roles", "Cần ít nhất một vai trò trong: admin, editor, author, moderator."
        )
    return wanted


def check_display_name(raw: str) -> str:
    display_name = raw.strip()
    if not 1 <= len(display_name) <= MAX_DISPLAY_NAME_LENGTH:
        raise UserInputError(
            "display_name", f"Tên hiển thị phải dài 1–{MAX_DISPLAY_NAME_LENGTH} ký tự."
        )
    return display_name


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    # Made on first use, with the same parameters as real hashes, so a login for a name
    # that does not exist costs as much time as one for a name that does.
    return _hasher.hash(secrets.token_urlsafe(16))


async def create_user(
    conn: asyncpg.Connection,
    username: str,
    password: str,
    *,
    roles: Iterable[str],
    display_name: str | None = None,
) -> User:
    """A new user; UserInputError (Vietnamese message) for input the record cannot take."""
    name = normalize_username(username)
    check_password(password)
    wanted_roles = check_roles(roles)
    shown_name = check_display_name(display_name if display_name is not None else name)
    password_hash = await hash_password(password)
    try:
        row = await conn.fetchrow(
            f"""INSERT INTO users (username, display_name, password_hash, roles)
                VALUES ($1, $2, $3, $4) RETURNING {_COLUMNS}""",
            name,
            shown_name,
            password_hash,
            sorted(wanted_roles),
        )
    except asyncpg.UniqueViolationError as exc:
        raise UsernameTakenError("username", "Tên đăng nhập này đã có người dùng.") from exc
    assert row is not None
    return _user(row)


async def get_user(conn: asyncpg.Connection, user_id: int) -> User | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE id = $1", user_id)
    return _user(row) if row else None


async def get_user_by_username(conn: asyncpg.Connection, username: str) -> User | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM users WHERE username = $1", username.strip().lower()
    )
    return _user(row) if row else None


async def authenticate(conn: asyncpg.Connection, username: str, password: str) -> User | None:
    """The user if the password is theirs and the account is enabled, else None.

    Unknown names are checked against a dummy hash, so the answer takes about as long
    whether the name exists or not.
    """
    if len(password) > MAX_PASSWORD_LENGTH:
        return None
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS}, password_hash FROM users WHERE username = $1",
        username.strip().lower(),
    )
    stored_hash = row["password_hash"] if row else _dummy_hash()
    matches = await asyncio.to_thread(_password_matches, stored_hash, password)
    if row is None or not matches or row["disabled"]:
        return None
    if _hasher.check_needs_rehash(stored_hash):
        await _rehash(conn, row["id"], stored_hash, password)
    return _user(row)


async def _rehash(conn: asyncpg.Connection, user_id: int, old_hash: str, password: str) -> None:
    # Hash parameters were raised since this password was set: upgrade it now, while the
    # plain password is at hand. The old-hash guard leaves a concurrent change alone.
    await conn.execute(
        """UPDATE users SET password_hash = $3, updated_at = now()
           WHERE id = $1 AND password_hash = $2""",
        user_id,
        old_hash,
        await hash_password(password),
    )


async def set_disabled(conn: asyncpg.Connection, user_id: int, disabled: bool) -> User | None:
    """Disable (or enable again) a user; None if there is no such user."""
    row = await conn.fetchrow(
        f"""UPDATE users SET disabled = $2, updated_at = now()
            WHERE id = $1 RETURNING {_COLUMNS}""",
        user_id,
        disabled,
    )
    return _user(row) if row else None


async def list_users(conn: asyncpg.Connection) -> list[User]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM users ORDER BY id")
    return [_user(row) for row in rows]


@dataclass(frozen=True)
class UserChange:
    """The fields of a user an admin changes (None: left as it is); the password arrives
    already hashed."""

    display_name: str | None = None
    roles: frozenset[str] | None = None
    disabled: bool | None = None
    password_hash: str | None = None


async def update_user(conn: asyncpg.Connection, user_id: int, change: UserChange) -> User | None:
    """Apply `change`; None if there is no such user."""
    row = await conn.fetchrow(
        f"""UPDATE users
               SET display_name = coalesce($2, display_name),
                   roles = coalesce($3, roles),
                   disabled = coalesce($4, disabled),
                   password_hash = coalesce($5, password_hash),
                   updated_at = now()
             WHERE id = $1
         RETURNING {_COLUMNS}""",
        user_id,
        change.display_name,
        sorted(change.roles) if change.roles is not None else None,
        change.disabled,
        change.password_hash,
    )
    return _user(row) if row else None


# Any bigint names the lock; this one reads "bantin" in ASCII.
_USER_CHANGES_LOCK = 0x62616E74696E


async def lock_user_changes(conn: asyncpg.Connection) -> None:
    """Serialise changes of users until the transaction ends, so two admins demoting
    each other at the same moment cannot both succeed and leave no admin."""
    await conn.execute("SELECT pg_advisory_xact_lock($1::bigint)", _USER_CHANGES_LOCK)


async def enabled_admins(conn: asyncpg.Connection) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM users WHERE NOT disabled AND roles @> ARRAY['admin']::text[]"
        )
    )


async def is_active(conn: asyncpg.Connection, user_id: int) -> bool:
    """True if the user exists and is not disabled."""
    disabled = await conn.fetchval("SELECT disabled FROM users WHERE id = $1", user_id)
    return disabled is False


async def still_holds(conn: asyncpg.Connection, principal: auth.Principal) -> bool:
    """True if the principal's user exists, is enabled and still holds every role the
    token names (a role an admin took away is gone at once, not when the token expires)."""
    row = await conn.fetchrow("SELECT disabled, roles FROM users WHERE id = $1", principal.user_id)
    return row is not None and not row["disabled"] and principal.roles <= set(row["roles"])


def active_check(pool: asyncpg.Pool) -> auth.ActiveCheck:
    """The articles app's auth.ACTIVE_CHECK: refuses at once the token of a user who was
    disabled or lost a role it names, without waiting for it to expire."""

    async def principal_is_active(principal: auth.Principal) -> bool:
        async with pool.acquire(timeout=db.ACQUIRE_TIMEOUT) as conn:
            return await still_holds(conn, principal)

    return principal_is_active
