"""The user administration API, for admins only: list, create and change users (names,
roles, disabling, passwords). Password hashes never leave services/articles/users.py.

No change may leave the site without an enabled admin: it is refused with 409 last_admin
and nothing is written. Disabling a user, or taking a role away, ends their current token
in articles at once (users.active_check); signing in is refused to a disabled user.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from services.articles import users
from services.articles.domain import iso_time
from services.articles.request_context import acquire, json_response, path_id
from services.common.auth import require_role
from services.common.errors import Problem, input_validator, invalid_input, read_json

routes = web.RouteTableDef()

PRIVATE = {"Cache-Control": "no-store"}

_USER_FIELDS: dict[str, Any] = {
    "display_name": {
        "type": "string",
        "minLength": 1,
        "maxLength": users.MAX_DISPLAY_NAME_LENGTH,
        "pattern": r"\S",
    },
    "roles": {
        "type": "array",
        "minItems": 1,
        "uniqueItems": True,
        "items": {"enum": sorted(users.ROLES)},
    },
    "password": {
        "type": "string",
        "minLength": users.MIN_PASSWORD_LENGTH,
        "maxLength": users.MAX_PASSWORD_LENGTH,
    },
}
USER_CREATE = input_validator(
    {
        "type": "object",
        "required": ["username", "password", "roles"],
        "additionalProperties": False,
        "properties": {
            "username": {
                "type": "string",
                "maxLength": 100,
                "description": "3-40 of a-z 0-9 . _ - (stored lower-case)",
            },
            **_USER_FIELDS,
        },
    }
)
USER_PATCH = input_validator(
    {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {**_USER_FIELDS, "disabled": {"type": "boolean"}},
    }
)


def user_json(user: users.User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "roles": sorted(user.roles),
        "disabled": user.disabled,
        "created_at": iso_time(user.created_at),
        "updated_at": iso_time(user.updated_at),
    }


def _json(body: dict[str, Any], *, status: int = 200, **headers: str) -> web.Response:
    return json_response(body, status=status, headers=PRIVATE | headers)


def _not_found() -> Problem:
    return Problem(404, "user_not_found", "Không tìm thấy người dùng.")


def _checked_password(password: str) -> str:
    users.check_password(password)
    return password


def _checked(body: dict[str, Any]) -> dict[str, Any]:
    """The body's fields as users.py will store them; a 422 naming every field it refuses
    (so nothing is written when any one of them is bad)."""
    checks: dict[str, Callable[[Any], Any]] = {
        "username": users.normalize_username,
        "display_name": users.check_display_name,
        "roles": users.check_roles,
        "password": _checked_password,
    }
    checked, errors = {}, {}
    for field, value in body.items():
        try:
            checked[field] = checks[field](value) if field in checks else value
        except users.UserInputError as refused:
            errors[refused.field] = refused.message
    if errors:
        raise invalid_input(errors)
    return checked


@routes.get("/api/v1/users")
@require_role("admin")
async def list_users(request: web.Request) -> web.Response:
    async with acquire(request) as conn:
        found = await users.list_users(conn)
    return _json({"items": [user_json(u) for u in found]})


@routes.get(r"/api/v1/users/{id:\d+}")
@require_role("admin")
async def get_user(request: web.Request) -> web.Response:
    async with acquire(request) as conn:
        user = await users.get_user(conn, path_id(request, _not_found()))
    if user is None:
        raise _not_found()
    return _json(user_json(user))


@routes.post("/api/v1/users")
@require_role("admin")
async def create_user(request: web.Request) -> web.Response:
    """{"username","password","roles",["display_name"]} -> 201 with the new user."""
    body = _checked(await read_json(request, USER_CREATE))
    try:
        async with acquire(request) as conn:
            user = await users.create_user(
                conn,
                body["username"],
                body["password"],
                roles=body["roles"],
                display_name=body.get("display_name"),
            )
    except users.UsernameTakenError as taken:
        raise Problem(409, "username_taken", taken.message) from taken
    return _json(user_json(user), status=201, Location=f"/api/v1/users/{user.id}")


@routes.patch(r"/api/v1/users/{id:\d+}")
@require_role("admin")
async def update_user(request: web.Request) -> web.Response:
    """Some of {"display_name","roles","disabled","password"}; 409 last_admin when the
    change would leave no enabled admin."""
    user_id = path_id(request, _not_found())
    body = _checked(await read_json(request, USER_PATCH))
    change = users.UserChange(
        display_name=body.get("display_name"),
        roles=body.get("roles"),
        disabled=body.get("disabled"),
        # Hashed before the transaction: it is slow, and the lock below should be short.
        password_hash=await users.hash_password(body["password"]) if "password" in body else None,
    )
    async with acquire(request) as conn, conn.transaction():
        await users.lock_user_changes(conn)
        user = await users.update_user(conn, user_id, change)
        if user is None:
            raise _not_found()
        if await users.enabled_admins(conn) == 0:
            raise Problem(
                409,
                "last_admin",
                "Không thể khoá hoặc bỏ quyền quản trị của quản trị viên cuối cùng; "
                "xin cấp quyền quản trị cho người khác trước.",
            )
    return _json(user_json(user))
