"""docker-compose.yml, the Dockerfiles and the gateway template, checked without a Docker
engine: schema, lint, the paths they copy, and that every command, port and variable they
name is one the code really reads. Also that the local runner takes its processes from
the compose file."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.run_local import (
    GATEWAY_TEMPLATE,
    SECRET_DIRS,
    SERVICE_ACCOUNT_VARIABLES,
    Local,
    load_compose,
    process_spec,
    render_gateway_config,
)
from tests.support.tools import needs

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPOSE = load_compose()
DOCKERFILES = sorted(ROOT.glob("services/*/Dockerfile"))
OUR_IMAGES = {
    name: spec
    for name, spec in COMPOSE["services"].items()
    if str(spec.get("image", "")).startswith("bantin/")
}


def code_text() -> str:
    files = [*ROOT.glob("services/**/*.py"), ROOT / "deploy" / "postgres" / "init.sql"]
    return "\n".join(path.read_text() for path in files)


def test_compose_file_matches_the_compose_spec() -> None:
    result = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_there_is_one_dockerfile_per_service() -> None:
    assert [p.parent.name for p in DOCKERFILES] == ["articles", "counter", "feedback"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    result = subprocess.run(
        [BIN / "hadolint", str(dockerfile)], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_copies_only_paths_that_exist_and_runs_as_non_root(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    copies = re.findall(r"^COPY\s+(?:--\S+\s+)*(.+)$", text, flags=re.M)
    assert copies
    for line in copies:
        *sources, _target = line.split()
        for source in sources:
            assert (ROOT / source).exists(), f"{dockerfile} copies missing {source}"
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^FROM\s+python:3\.11[\w.-]*-slim", text, flags=re.M)


@pytest.mark.parametrize("name", sorted(OUR_IMAGES))
def test_every_command_is_a_module_that_exists(name: str) -> None:
    command = OUR_IMAGES[name]["command"]
    assert command[:2] == ["python", "-m"]
    assert importlib.util.find_spec(command[2]) is not None, command


@pytest.mark.parametrize("name", sorted(OUR_IMAGES))
def test_every_variable_given_to_our_images_is_read_by_the_code(name: str) -> None:
    code = code_text()
    for variable in OUR_IMAGES[name].get("environment") or {}:
        if name == "secrets":  # named by the files it writes (its own test below)
            continue
        # X_FILE may be read by the one helper that reads a secret from X or X_FILE.
        read_as = (variable, variable.removesuffix("_FILE"))
        assert any(f'"{v}"' in code for v in read_as), f"{name}: nothing reads {variable}"


def test_postgres_sets_the_roles_passwords_init_sql_reads_from_the_secret_files() -> None:
    """The image reads its superuser's password from a file; the set-up script gives
    init.sql each role's password (\\getenv) from the file the `secrets` job writes."""
    postgres = COMPOSE["services"]["postgres"]
    assert postgres["environment"] == {
        "POSTGRES_PASSWORD_FILE": "/run/bantin/secrets/postgres-password"
    }
    init_sql = (ROOT / "deploy" / "postgres" / "init.sql").read_text()
    script = (ROOT / "deploy" / "postgres" / "init-from-secrets.sh").read_text()
    read = re.findall(r"^\\getenv \w+ (\w+)$", init_sql, flags=re.M)
    assert read == ["ARTICLES_DB_PASSWORD", "FEEDBACK_DB_PASSWORD", "COUNTER_DB_PASSWORD"]
    for variable in read:
        file_name = variable.lower().replace("_", "-")
        assert f'{variable}="$(cat "$bantin_secrets/{file_name}")"' in script
    mounts = postgres["volumes"]
    assert "./deploy/postgres/init-from-secrets.sh:/docker-entrypoint-initdb.d/init.sh:ro" in mounts
    assert "./deploy/postgres/init.sql:/bantin/init.sql:ro" in mounts
    assert not any(m.startswith("./deploy/postgres/init.sql:/docker-entrypoint") for m in mounts)


def test_service_ports_agree_between_compose_dockerfiles_and_gateway() -> None:
    gateway_env = COMPOSE["services"]["gateway"]["environment"]
    for service in ("articles", "feedback", "counter"):
        port = COMPOSE["services"][service]["environment"]["HTTP_PORT"]
        assert gateway_env[f"BANTIN_{service.upper()}_ADDR"] == f"{service}:{port}"
        dockerfile = (ROOT / "services" / service / "Dockerfile").read_text()
        assert re.search(rf"^EXPOSE\s+{port}\b", dockerfile, flags=re.M), service
        main = (ROOT / "services" / service / "__main__.py").read_text()
        assert port in main, f"{service}'s default port differs from compose"


def test_gateway_template_variables_are_exactly_those_compose_sets() -> None:
    in_template = set(re.findall(r"\$\{(BANTIN_\w+)\}", GATEWAY_TEMPLATE.read_text()))
    assert in_template == set(COMPOSE["services"]["gateway"]["environment"])


def test_services_start_after_setup_and_the_gateway_after_services() -> None:
    services = COMPOSE["services"]
    for name in ("articles", "feedback", "counter"):
        after = services[name]["depends_on"]
        assert after["topology"]["condition"] == "service_completed_successfully"
        assert after["postgres"]["condition"] == "service_healthy"
        assert after["rabbitmq"]["condition"] == "service_healthy"
        assert "healthcheck" in services[name]
    assert set(services["gateway"]["depends_on"]) == {"articles", "feedback", "counter"}
    assert services["gateway"]["ports"] == ["${BANTIN_PORT:-8080}:8080"]


def test_only_articles_holds_the_signing_key() -> None:
    for name, spec in COMPOSE["services"].items():
        mounts = " ".join(spec.get("volumes") or [])
        env = spec.get("environment") or {}
        if name not in ("articles", "keys"):
            assert "auth-private" not in mounts, name
            assert "AUTH_PRIVATE_KEY_FILE" not in env, name


def test_local_runner_takes_commands_and_settings_from_compose(tmp_path: Path) -> None:
    local = Local(run_dir=tmp_path, database="bantin_x", gateway_port=18080,
                  ports={"articles": 18001, "feedback": 18002, "counter": 18003})  # fmt: skip
    spec = process_spec(COMPOSE, "articles", local)
    assert spec.command == [sys.executable, "-m", "services.articles"]
    compose_env = COMPOSE["services"]["articles"]["environment"]
    # No secret files on a developer's machine: the local servers trust it.
    secret_files = {k for k, v in compose_env.items() if str(v).startswith(SECRET_DIRS)}
    assert secret_files == {"AMQP_PASSWORD_FILE", "ARTICLES_DATABASE_PASSWORD_FILE"}
    assert set(spec.env) == set(compose_env) - secret_files
    feedback = process_spec(COMPOSE, "feedback", local)
    assert feedback.env["FEEDBACK_FORM_SECRET"] == local.form_secret  # one for the run
    assert len(local.form_secret) >= 40
    assert Local(run_dir=tmp_path).form_secret != local.form_secret  # and new each run
    # The first admin's password: compose's from its file; a run's own, new each run.
    first_admin = process_spec(COMPOSE, "first-admin", local)
    assert first_admin.env["BANTIN_ADMIN_PASSWORD"] == local.admin_password
    assert "BANTIN_ADMIN_PASSWORD_FILE" not in first_admin.env
    assert len(local.admin_password) >= 16
    assert Local(run_dir=tmp_path).admin_password != local.admin_password
    topology = process_spec(COMPOSE, "topology", local)
    assert set(topology.env) == {"AMQP_URL"}  # the local broker's one account, as before
    assert not SERVICE_ACCOUNT_VARIABLES & set(topology.env)
    assert spec.env["ARTICLES_DATABASE_URL"] == "postgresql://articles@127.0.0.1:5432/bantin_x"
    assert spec.env["HTTP_PORT"] == "18001"
    assert spec.env["AUTH_PRIVATE_KEY_FILE"] == f"{tmp_path}/keys/private/auth_private.pem"
    gateway = process_spec(COMPOSE, "gateway", local)
    assert gateway.env["BANTIN_FEEDBACK_ADDR"] == "127.0.0.1:18002"


@needs("nginx")
def test_rendered_gateway_config_is_valid_nginx(tmp_path: Path) -> None:
    local = Local(run_dir=tmp_path)
    spec = process_spec(COMPOSE, "gateway", local)
    conf = render_gateway_config(spec.env, tmp_path / "nginx")
    rendered = (conf.parent / "conf.d" / "default.conf").read_text()
    assert "${" not in rendered
    assert "$remote_addr" in rendered  # nginx's own variables are left alone
    result = subprocess.run(
        ["nginx", "-t", "-p", str(conf.parent), "-c", str(conf)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
