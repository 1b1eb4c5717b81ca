"""compose's secrets and broker accounts, checked without a Docker engine: no password
anyone knows is written in the file; every secret a container reads is a file the
`secrets` job makes first, in a volume the container mounts, readable by its user; and
each service connects to the broker with its own account."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from scripts.run_local import SECRET_DIRS, SERVICES, load_compose

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = load_compose()
JOB = COMPOSE["services"]["secrets"]
# The official images' users: postgres runs as 999:999, the broker's entrypoint reads its
# file as root before it drops to its own user.
IMAGE_USERS = {"postgres:15": (999, 999), "rabbitmq:3.13-management": (0, 0)}


def written() -> dict[str, tuple[int, int]]:
    """Each file the job writes, and its owner."""
    files = {}
    for spec in JOB["command"][3:]:
        path, owner = spec.split("=")
        uid, gid = owner.split(":")
        files[path] = (int(uid), int(gid))
    return files


def user_of(spec: dict[str, Any]) -> tuple[int, int]:
    if "user" in spec:
        uid, _, gid = str(spec["user"]).partition(":")
        return int(uid), int(gid or uid)
    image = str(spec["image"])
    if image in IMAGE_USERS:
        return IMAGE_USERS[image]
    service = image.split("/")[1].split(":")[0]
    dockerfile = (ROOT / "services" / service / "Dockerfile").read_text()
    [uid] = re.findall(r"^USER (\d+)$", dockerfile, flags=re.M)
    return int(uid), int(uid)


def mounts(spec: dict[str, Any]) -> dict[str, str]:
    """Mount point -> named volume."""
    found = {}
    for mount in spec.get("volumes") or []:
        source, target = mount.split(":")[:2]
        if not source.startswith("."):
            found[target] = source
    return found


def files_read(name: str) -> list[str]:
    """The secret files a container reads: its settings, the broker's entrypoint, the
    postgres set-up script."""
    spec = COMPOSE["services"][name]
    values = [str(v) for v in (spec.get("environment") or {}).values()]
    values += re.findall(r"/run/bantin/\S+?(?=\))", " ".join(spec.get("entrypoint") or []))
    if name == "postgres":
        script = (ROOT / "deploy" / "postgres" / "init-from-secrets.sh").read_text()
        values += [f"/run/bantin/secrets/{f}" for f in re.findall(r"/([\w-]+-db-password)", script)]
    return [v for v in values if v.startswith(SECRET_DIRS)]


READERS = sorted(n for n in COMPOSE["services"] if n != "secrets" and files_read(n))


def test_no_password_anybody_knows_is_in_the_compose_file() -> None:
    assert "dev-only" not in COMPOSE_TEXT
    for variable, default in re.findall(r"\$\{(\w+):?-([^}]*)\}", COMPOSE_TEXT):
        if re.search("(PASSWORD|SECRET)$", variable):
            assert default == "", f"{variable} defaults to {default!r}"
    # No URL with a password in it: the passwords are in files.
    accounts = re.findall(r"://([^/@\s]+)@", COMPOSE_TEXT)
    assert accounts and all(re.fullmatch(r"[\w.-]+|\$\{RABBITMQ_USER:-\w+\}", a) for a in accounts)


def test_the_operator_may_give_each_secret_in_the_variable_its_file_is_named_for() -> None:
    named = {PurePosixPath(path).name.upper().replace("-", "_") for path in written()}
    assert set(JOB["environment"]) == named
    for variable, value in JOB["environment"].items():
        assert value == f"${{{variable}:-}}"


def test_the_job_runs_as_root_alone_and_keeps_its_files_in_volumes() -> None:
    assert JOB["user"] == "0:0" and JOB["network_mode"] == "none" and JOB["restart"] == "no"
    assert JOB["command"][:3] == ["python", "-m", "services.common.secrets_init"]
    assert mounts(JOB) == {"/run/bantin/secrets": "secrets", "/run/bantin/broker": "broker-secret"}
    assert {"secrets", "broker-secret"} <= set(COMPOSE["volumes"])


def test_everything_that_needs_a_secret_reads_its_file() -> None:
    assert READERS == sorted(["postgres", "rabbitmq", "topology", "first-admin", *SERVICES])
    assert "FEEDBACK_FORM_SECRET_FILE" in COMPOSE["services"]["feedback"]["environment"]


@pytest.mark.parametrize("name", READERS)
def test_a_container_reads_only_files_made_first_in_a_volume_it_mounts_and_may_read(
    name: str,
) -> None:
    spec = COMPOSE["services"][name]
    made = written()
    uid, gid = user_of(spec)
    for path in files_read(name):
        assert path in made, f"{name} reads {path}, which nobody writes"
        directory = str(PurePosixPath(path).parent)
        assert mounts(spec).get(directory) == mounts(JOB)[directory], (name, path)
        assert f"{mounts(spec)[directory]}:{directory}:ro" in spec["volumes"], "read-only"
        owner, group = made[path]
        assert uid == 0 or uid == owner or gid == group, f"{name} ({uid}) cannot read {path}"
    after = spec["depends_on"]["secrets"]
    assert after == {"condition": "service_completed_successfully"}, name


def test_only_the_topology_step_and_the_broker_hold_the_administrators_password() -> None:
    holders = [n for n, s in COMPOSE["services"].items() if "broker-secret" in mounts(s).values()]
    assert sorted(holders) == ["rabbitmq", "secrets", "topology"]
    made = written()
    step_user = user_of(COMPOSE["services"]["topology"])
    assert made["/run/bantin/broker/rabbitmq-password"] == step_user
    for name in SERVICES:  # and no service shares the step's user
        assert user_of(COMPOSE["services"][name])[0] != step_user[0]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_connects_to_the_broker_with_its_own_account(service: str) -> None:
    env = COMPOSE["services"][service]["environment"]
    topology = COMPOSE["services"]["topology"]["environment"]
    assert env["AMQP_URL"] == f"amqp://{service}@rabbitmq:5672/"
    password = f"/run/bantin/secrets/rabbitmq-{service}-password"
    assert env["AMQP_PASSWORD_FILE"] == password
    # The step makes that very account, with that very password.
    assert topology[f"{service.upper()}_AMQP_URL"] == env["AMQP_URL"]
    assert topology[f"{service.upper()}_AMQP_PASSWORD_FILE"] == password
    # Readable by the service and the step only.
    assert written()[password] == (user_of(COMPOSE["services"][service])[0], 10004)
    assert topology["AMQP_URL"] != env["AMQP_URL"]
