"""compose's first start of Postgres (deploy/postgres/init-from-secrets.sh) gives each
service role the password the `secrets` job generated. On a private cluster of our own
(roles are cluster-wide) that asks for passwords over TCP, as compose's does."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.support.infra import INIT_SQL, ROOT
from tests.support.private_services import HOST, PrivatePostgres, private_postgres

SCRIPT = ROOT / "deploy" / "postgres" / "init-from-secrets.sh"
ROLES = ("articles", "feedback", "counter")


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivatePostgres]:
    with private_postgres() as cluster:
        # Passwords over TCP (as in compose), the local socket still trusted for set-up.
        hba = cluster.data / "pg_hba.conf"
        hba.write_text("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        subprocess.run(
            ["runuser", "-u", "postgres", "--", "psql", "-h", str(cluster.root),
             "-p", str(cluster.port), "-d", "postgres", "-c", "SELECT pg_reload_conf()"],
            check=True, capture_output=True,
        )  # fmt: skip
        yield cluster


def init(cluster: PrivatePostgres, secrets: Path) -> subprocess.CompletedProcess[str]:
    """The script as the postgres image runs it: as postgres, on the local socket."""
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "PGHOST": str(cluster.root),
        "PGPORT": str(cluster.port),
        "BANTIN_SECRETS_DIR": str(secrets),
        "BANTIN_INIT_SQL": str(INIT_SQL),
    }
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", "sh", str(SCRIPT)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.fixture
def secrets() -> Iterator[Path]:
    """A directory the postgres user can reach (pytest's own are root's only)."""
    directory = Path(tempfile.mkdtemp(prefix="bantin-secrets-"))
    yield directory / "secrets"
    shutil.rmtree(directory)


def readable_by_postgres(path: Path) -> None:
    for directory in (path.parent, path):
        directory.chmod(0o755)
    for file in path.iterdir():
        file.chmod(0o444)


async def test_each_role_gets_the_password_in_its_secret_file(
    cluster: PrivatePostgres, secrets: Path
) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "services.common.secrets_init",
         *(str(secrets / f"{role}-db-password") for role in ROLES)],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin"}, check=True, capture_output=True,
    )  # fmt: skip
    assert made.returncode == 0
    readable_by_postgres(secrets)

    run = init(cluster, secrets)
    assert run.returncode == 0, run.stderr

    for role in ROLES:
        password = (secrets / f"{role}-db-password").read_text().strip()
        dsn = f"postgresql://{role}@{HOST}:{cluster.port}/bantin"
        conn = await asyncpg.connect(dsn, password=password)
        assert await conn.fetchval("SELECT current_user") == role
        await conn.close()
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(dsn, password=password + "x")


def test_a_missing_secret_stops_the_set_up(cluster: PrivatePostgres, secrets: Path) -> None:
    secrets.mkdir()
    (secrets / "articles-db-password").write_text("only-one-of-three\n")
    readable_by_postgres(secrets)
    run = init(cluster, secrets)
    assert run.returncode != 0
    assert "feedback-db-password" in run.stderr
