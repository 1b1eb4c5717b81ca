"""Create the first admin user.

    python -m services.articles.create_admin --username U [--display-name N] [--password P]

The username may come from BANTIN_ADMIN_USERNAME and the password from
BANTIN_ADMIN_PASSWORD, or the file BANTIN_ADMIN_PASSWORD_FILE names (compose's, generated
on the first start); without either the password is asked for on the terminal. Prefer
those to --password, which other users of the machine can read in the process list. The
database is ARTICLES_DATABASE_URL (or DATABASE_URL); pending migrations are applied first.
An existing username is left unchanged and the command exits with status 1.

The first admin must choose a new password at the first sign-in (the one given here sits
in settings files). So the demo job does not need it: with BANTIN_DEMO_CREDENTIAL_FILE
set, DEMO_CONTENT not off and a site without content yet, the command also opens a
one-time demo account with a random password and writes it to that file (mode 0600, in a
volume only this job and the demo job mount); the demo job disables the account once
the demo is loaded, and any later run of this command, finding content, closes it too.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import secrets
import sys
from pathlib import Path

from services.articles import actions, domain, store
from services.common import db
from services.common.config import ConfigError, database_url, secret

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
        help="default: $BANTIN_ADMIN_PASSWORD (or the file $BANTIN_ADMIN_PASSWORD_FILE names), "
        "else asked on the terminal (safer than argv)",
    )
    parser.add_argument(
        "--if-missing",
        action="store_true",
        help="succeed without change when the user exists (for start-up jobs run every time)",
    )
    return parser.parse_args(argv)


def _password(given: str | None) -> str:
    try:
        password = given or secret("BANTIN_ADMIN_PASSWORD")
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc
    if password:
        return password
    if not sys.stdin.isatty():
        raise CommandError("no password: set BANTIN_ADMIN_PASSWORD or run on a terminal")
    password = getpass.getpass("Mật khẩu / password: ")
    if getpass.getpass("Nhập lại / again: ") != password:
        raise CommandError("the two passwords differ")
    return password


DEMO_USERNAME = "noi-dung-mau"
DEMO_OFF = ("0", "false", "no", "off")


async def create_admin(
    dsn: str, username: str, password: str, display_name: str | None
) -> domain.User:
    await db.migrate(dsn, SERVICE_DIR)
    conn = await db.connect(dsn)
    try:
        return await actions.create_user(
            conn,
            username,
            password,
            roles=["admin"],
            display_name=display_name,
            must_change_password=True,
        )
    finally:
        await conn.close()


def _demo_credential_path() -> Path | None:
    """BANTIN_DEMO_CREDENTIAL_FILE (empty or unset: no demo account)."""
    raw = os.environ.get("BANTIN_DEMO_CREDENTIAL_FILE", "").strip()
    return Path(raw) if raw else None


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    temporary.replace(path)


async def prepare_demo_account(dsn: str, path: Path, wanted: bool) -> bool:
    """Open the one-time demo account and write its credential to `path` when the demo
    is wanted and the site has no content yet; otherwise close any left open and remove
    the file. Whether an account is open for the demo job."""
    conn = await db.connect(dsn)
    try:
        if wanted and not await store.list_categories(conn):
            password = secrets.token_urlsafe(24)
            await actions.open_demo_account(conn, DEMO_USERNAME, password)
            _write_private(path, json.dumps({"username": DEMO_USERNAME, "password": password}))
            return True
        await actions.close_account(conn, DEMO_USERNAME)
        path.unlink(missing_ok=True)
        return False
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
        dsn = database_url("articles")
        status = _create(dsn, username, password, args)
        demo_file = _demo_credential_path()
        if demo_file is not None and status == 0:
            # The demo job's own reading of the switch (services/demo).
            wanted = os.environ.get("DEMO_CONTENT", "1").strip().lower() not in DEMO_OFF
            if asyncio.run(prepare_demo_account(dsn, demo_file, wanted)):
                print(f"Đã mở tài khoản một lần cho nội dung mẫu ({demo_file}).")
    except (domain.UserInputError, CommandError, ConfigError, OSError) as exc:
        print(f"Lỗi: {exc}", file=sys.stderr)
        return 1
    return status


def _create(dsn: str, username: str, password: str, args: argparse.Namespace) -> int:
    try:
        admin = asyncio.run(create_admin(dsn, username, password, args.display_name))
    except domain.UsernameTakenError:
        print(f"Tên đăng nhập '{username}' đã tồn tại; không thay đổi gì.", file=sys.stderr)
        return 0 if args.if_missing else 1
    print(
        f"Đã tạo tài khoản quản trị '{admin.username}' (id {admin.id}); lần đăng nhập đầu "
        "tiên sẽ yêu cầu đặt mật khẩu mới."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
