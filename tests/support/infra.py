"""Test infrastructure on the machine's Postgres and RabbitMQ: a fresh database made by
deploy/postgres/init.sql and a fresh RabbitMQ vhost per test run, so runs never see each
other's data and nothing is left behind."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
INIT_SQL = ROOT / "deploy" / "postgres" / "init.sql"
PG_HOST = os.environ.get("BANTIN_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BANTIN_TEST_PG_PORT", "5432"))
PG_SUPERUSER = os.environ.get("BANTIN_TEST_PG_USER", "postgres")
AMQP_HOST = os.environ.get("BANTIN_TEST_AMQP_HOST", "127.0.0.1")
AMQP_PORT = int(os.environ.get("BANTIN_TEST_AMQP_PORT", "5672"))
MANAGEMENT_PORT = int(os.environ.get("BANTIN_TEST_AMQP_MANAGEMENT_PORT", "15672"))
MANAGEMENT_API = f"http://{AMQP_HOST}:{MANAGEMENT_PORT}/api"


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Database:
    name: str
    host: str = PG_HOST
    port: int = PG_PORT

    def dsn(self, role: str) -> str:
        return f"postgresql://{role}@{self.host}:{self.port}/{self.name}"

    @property
    def admin_dsn(self) -> str:
        return self.dsn(PG_SUPERUSER)


def psql(*args: str, host: str = PG_HOST, port: int = PG_PORT, db: str = "postgres") -> str:
    result = subprocess.run(
        ["psql", "-X", "-q", "-h", host, "-p", str(port), "-U", PG_SUPERUSER, "-d", db, *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


def create_database(host: str = PG_HOST, port: int = PG_PORT) -> Database:
    database = Database(unique_name("bantin_test"), host, port)
    psql("-v", f"dbname={database.name}", "-f", str(INIT_SQL), host=host, port=port)
    return database


def drop_database(database: Database) -> None:
    psql(
        "-c",
        f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)',
        host=database.host,
        port=database.port,
    )


def rabbitmqctl(*args: str, node: str | None = None) -> str:
    command = ["rabbitmqctl", *(["-n", node] if node else []), *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


@dataclass(frozen=True)
class Vhost:
    name: str
    host: str = AMQP_HOST
    port: int = AMQP_PORT

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{self.host}:{self.port}/{quote(self.name, safe='')}"


def management(method: str, path: str, body: dict[str, str] | None = None) -> Any:
    """One call to the broker's management API (`path` after /api) as guest, and its
    decoded answer (None when empty): milliseconds, where each rabbitmqctl call starts an
    Erlang VM (a second or more), and every test module makes and removes a vhost."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{MANAGEMENT_API}{path}", data=data, method=method)
    request.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as answer:
        raw = answer.read()
    return json.loads(raw) if raw else None


def create_vhost() -> Vhost:
    vhost = Vhost(unique_name("bantin-test"))
    name = quote(vhost.name, safe="")
    management("PUT", f"/vhosts/{name}", {})
    management(
        "PUT", f"/permissions/{name}/guest", {"configure": ".*", "write": ".*", "read": ".*"}
    )
    return vhost


def delete_vhost(vhost: Vhost) -> None:
    management("DELETE", f"/vhosts/{quote(vhost.name, safe='')}")
