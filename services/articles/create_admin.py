"""Create the first admin user.

    python -m services.articles.create_admin --username U [--display-name N] [--password P]

The username may come from BANTIN_ADMIN_USERNAME and the password from
BANTIN_ADMIN_PASSWORD; without either the password is asked for on the terminal. Prefer
those to --password, which other users of the machine can read in the process list. The
database is ARTICLES_DATABASE_URL (or DATABASE_URL); pending migrations are applied first.
An existing username is left unchanged and the command exits with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path

from services.articles import actions, domain
from services.common import db
from services.common.config import ConfigError, env

SERVICE_DIR = Path(__file__).parent


class CommandError(Exception):
    """Something the operator must fix; the message says what."""


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m services.articles.create_admin", description="Create an admin user."
    )
    parser.add_argument("--username", help="default: $BANTIN_ADMIN_USERNAME")
    parser.add_argument("--display-name", help="default: the username")
    parser.add_argument(
        "--password",
        help="default: $BANTIN_ADMIN_PASSWORD, else asked on the terminal (safer than argv)",
    )
    parser.add_argument(
        "--if-missing",
        action="store_true",
        help="succeed without change when the user exists (for start-up jobs run every time)",
    )
    return parser.parse_args(argv)


def _password(given: str | None) -> str:
    password = given or os.environ.get("BANTIN_ADMIN_PASSWORD")
    if password:
        return password
    if not sys.stdin.isatty():
        raise CommandError("no password: set BANTIN_ADMIN_PASSWORD or run on a terminal")
    password = getpass.getpass("Mật khẩu / password: ")
    if getpass.getpass("Nhập lại / again: ") != password:
        raise CommandError("the two passwords differ")
    return password


async def create_admin(
    dsn: str, username: str, password: str, display_name: str | None
) -> domain.User:
    await db.migrate(dsn, SERVICE_DIR)
    conn = await db.connect(dsn)
    try:
        return await actions.create_user(
            conn, username, password, roles=["admin"], display_name=display_name
        )
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        username = args.username or os.environ.get("BANTIN_ADMIN_USERNAME")
        if not username:
            raise CommandError("no username: give --username or set BANTIN_ADMIN_USERNAME")
        # Checked before the prompt and the database, so a typo fails fast.
        username = domain.normalize_username(username)
        password = _password(args.password)
        domain.check_password(password)
        dsn = env("ARTICLES_DATABASE_URL", os.environ.get("DATABASE_URL"))
        admin = asyncio.run(create_admin(dsn, username, password, args.display_name))
    except domain.UsernameTakenError:
        print(f"Tên đăng nhập '{username}' đã tồn tại; không thay đổi gì.", file=sys.stderr)
        return 0 if args.if_missing else 1
    except (domain.UserInputError, CommandError, ConfigError) as exc:
        print(f"Lỗi: {exc}", file=sys.stderr)
        return 1
    print(f"Đã tạo tài khoản quản trị '{admin.username}' (id {admin.id}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
