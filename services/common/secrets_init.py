"""Secrets made on first start: `python -m services.common.secrets_init PATH=UID:GID ...`.

compose runs it before anything else, so that a site started with nothing set holds no
password anybody knows. For each PATH (one secret a file, e.g.
/run/bantin/secrets/articles-db-password):
- a value given in the environment wins: the variable is the file's name in capitals with
  `_` for `-` (ARTICLES_DB_PASSWORD), so the operator's own secret is written there;
- else a file already there is kept (later starts change nothing);
- else a new random value is written (secrets.token_urlsafe: letters, digits, - and _,
  safe in a URL and in a shell).
Each file is written whole (a temporary file renamed), readable by its owner and group
only (0440); run as root, the job gives it UID:GID, so that only the container users
that need a secret can read it (the services' users differ, see their Dockerfiles).
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from services.common.config import ConfigError, refuse_placeholder

SECRET_BYTES = 32
FILE_MODE = 0o440
# Searchable by all, listable by none but root: a reader opens only the names it is told.
DIR_MODE = 0o711


@dataclass(frozen=True)
class SecretFile:
    path: Path
    uid: int | None = None
    gid: int | None = None

    @property
    def variable(self) -> str:
        """Where the operator may give the value: ARTICLES_DB_PASSWORD for articles-db-password."""
        return self.path.name.upper().replace("-", "_")


def parse(spec: str) -> SecretFile:
    """PATH or PATH=UID:GID."""
    path, _, owner = spec.partition("=")
    if not path.startswith("/") or not Path(path).name:
        raise ConfigError(f"{spec!r}: give an absolute file path")
    if not owner:
        return SecretFile(Path(path))
    uid, _, gid = owner.partition(":")
    try:
        return SecretFile(Path(path), int(uid), int(gid or uid))
    except ValueError as exc:
        raise ConfigError(f"{spec!r}: the owner must be UID:GID in numbers") from exc


def _write(path: Path, value: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(value + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _current(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").removesuffix("\n") or None
    except FileNotFoundError:
        return None


def ensure(secret: SecretFile) -> str:
    """Make sure the secret's file holds the right value; say what was done."""
    given = os.environ.get(secret.variable, "")
    if given:
        refuse_placeholder(secret.variable, given)
    current = _current(secret.path)
    secret.path.parent.mkdir(parents=True, exist_ok=True)
    secret.path.parent.chmod(DIR_MODE)
    if given and given != current:
        _write(secret.path, given)
        done = "set from the environment"
    elif current is None:
        _write(secret.path, secrets.token_urlsafe(SECRET_BYTES))
        done = "generated"
    else:
        done = "kept"
    secret.path.chmod(FILE_MODE)
    if os.geteuid() == 0 and secret.uid is not None:
        os.chown(secret.path, secret.uid, secret.gid if secret.gid is not None else secret.uid)
    return done


def main(argv: list[str] | None = None) -> int:
    specs = sys.argv[1:] if argv is None else argv
    if not specs:
        print("usage: secrets_init PATH[=UID:GID] ...", file=sys.stderr)
        return 2
    try:
        wanted = [parse(spec) for spec in specs]
        for secret in wanted:
            # Names and what was done, never a value.
            print(f"{secret.path}: {ensure(secret)}")
    except (ConfigError, OSError) as exc:
        print(f"secrets: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
