"""deploy/k8s, checked without a cluster: every manifest against the Kubernetes API schema
(strict: an unknown or misspelt field fails), and against docker-compose.yml, so that the
two ways of deploying run the same commands with the same settings, ports and keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from scripts.run_local import SECRET_DIRS, SERVICES, interpolate, load_compose
from services.common import auth

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
# The oldest Kubernetes still maintained when this was written; newer ones accept these.
KUBERNETES = "1.33.0"
COMPOSE = load_compose()
SECRET_EXAMPLE = "secrets.example.yaml"


def manifests() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            found += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


MANIFESTS = manifests()


def find(kind: str, name: str) -> dict[str, Any]:
    [doc] = [d for _, d in MANIFESTS if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def pod_spec(kind: str, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = find(kind, name)["spec"]["template"]["spec"]
    return spec


def container(spec: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [c for c in spec["containers"] if c["name"] == name]
    return found


def env_names(c: dict[str, Any]) -> list[str]:
    return [e["name"] for e in c.get("env", [])]


def compose_env(service: str) -> dict[str, str]:
    """A compose service's settings as Kubernetes names them: a secret compose reads from
    its generated file (X_FILE) is X from the Secret, a connection's password
    (X_DATABASE_PASSWORD_FILE, AMQP_PASSWORD_FILE) is in the URL the Secret holds."""
    env = COMPOSE["services"][service].get("environment") or {}
    named = {}
    for key, value in env.items():
        if str(value).startswith(SECRET_DIRS):
            if not key.endswith(("DATABASE_PASSWORD_FILE", "AMQP_PASSWORD_FILE")):
                named[key.removesuffix("_FILE")] = "(from the Secret)"
            continue
        named[key] = interpolate(str(value), {})
    return named


def secret_key(c: dict[str, Any], variable: str) -> str:
    [key] = [e["valueFrom"]["secretKeyRef"]["key"] for e in c["env"] if e["name"] == variable]
    return str(key)


@pytest.mark.parametrize(
    "manifest", MANIFESTS, ids=[f"{f}:{d['kind']}/{d['metadata']['name']}" for f, d in MANIFESTS]
)
def test_every_manifest_is_valid_kubernetes(manifest: tuple[str, dict[str, Any]]) -> None:
    _, doc = manifest
    try:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    except kubernetes_validate.ValidationError as error:
        pytest.fail(f"{error.path}: {error.message}")
    if doc["kind"] != "Namespace":
        assert doc["metadata"]["namespace"] == "bantin"


def test_kustomization_applies_every_manifest_but_the_secret_example() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", SECRET_EXAMPLE}
    assert sorted(kustomization["resources"]) == sorted(files)
    assert {i["name"] for i in kustomization["images"]} == {f"bantin/{s}" for s in SERVICES}


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_what_compose_runs(service: str) -> None:
    composed = COMPOSE["services"][service]
    spec = pod_spec("Deployment", service)
    main = container(spec, service)
    assert main["image"].split(":")[0] == composed["image"].split(":")[0]
    assert main["command"] == composed["command"]
    assert sorted(env_names(main)) == sorted(compose_env(service))
    values = {e["name"]: e.get("value") for e in main["env"]}
    port = compose_env(service)["HTTP_PORT"]
    assert values["HTTP_PORT"] == port and values["HTTP_HOST"] == "0.0.0.0"
    assert main["ports"] == [{"name": "http", "containerPort": int(port)}]
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    # The topology step runs first, with compose's command and the same broker (and
    # where its management API is, when not beside it).
    [topology] = spec["initContainers"]
    assert topology["command"] == COMPOSE["services"]["topology"]["command"]
    assert set(env_names(topology)) == {*compose_env("topology"), "RABBITMQ_MANAGEMENT_URL"}
    service_port = find("Service", service)["spec"]["ports"]
    assert service_port == [{"name": "http", "port": int(port), "targetPort": "http"}]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_as_its_image_user_without_privileges(service: str) -> None:
    spec = pod_spec("Deployment", service)
    dockerfile = (ROOT / "services" / service / "Dockerfile").read_text()
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert f"USER {spec['securityContext']['runAsUser']}" in dockerfile
    for c in spec["initContainers"] + spec["containers"]:
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert "memory" in c["resources"]["limits"]


def test_key_files_are_mounted_where_the_settings_point_and_only_articles_can_sign() -> None:
    for service in SERVICES:
        spec = pod_spec("Deployment", service)
        main = container(spec, service)
        values = {e["name"]: e.get("value") for e in main["env"]}
        mounts = {m["mountPath"]: m["name"] for m in main["volumeMounts"]}
        secrets = {v["name"]: v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
        wanted = {"AUTH_PUBLIC_KEY_FILE": ("bantin-auth-public", auth.PUBLIC_KEY_FILE)}
        if service == "articles":
            wanted["AUTH_PRIVATE_KEY_FILE"] = ("bantin-auth-private", auth.PRIVATE_KEY_FILE)
        for variable, (secret, file_name) in wanted.items():
            directory, _, name = values[variable].rpartition("/")
            assert name == file_name
            assert secrets[mounts[directory]] == secret, (service, variable)
        assert ("bantin-auth-private" in secrets.values()) == (service == "articles")


def test_every_secret_and_setting_referenced_exists() -> None:
    secret = find("Secret", "bantin-secrets")["stringData"]
    settings = find("ConfigMap", "bantin-settings")["data"]
    used = 0
    for file_name, doc in MANIFESTS:
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        spec = doc["spec"]["template"]["spec"]
        for c in spec.get("initContainers", []) + spec["containers"]:
            for e in c.get("env", []):
                ref = e.get("valueFrom", {})
                if "secretKeyRef" in ref:
                    assert ref["secretKeyRef"]["name"] == "bantin-secrets", file_name
                    assert ref["secretKeyRef"]["key"] in secret, (file_name, e["name"])
                    used += 1
                if "configMapKeyRef" in ref:
                    assert ref["configMapKeyRef"]["name"] == "bantin-settings", file_name
                    assert ref["configMapKeyRef"]["key"] in settings, (file_name, e["name"])
                    used += 1
    assert used > 20
    # The Secrets and the ConfigMap made by hand are the ones README.md tells how to make.
    readme = (K8S / "README.md").read_text()
    for made_by_hand in ("bantin-auth-private", "bantin-auth-public", "bantin-gateway-template"):
        assert f"create secret generic {made_by_hand}" in readme or (
            f"create configmap {made_by_hand}" in readme
        ), made_by_hand


def test_the_gateway_is_the_one_compose_runs() -> None:
    composed = COMPOSE["services"]["gateway"]
    spec = pod_spec("Deployment", "gateway")
    main = container(spec, "gateway")
    assert main["image"] == composed["image"]
    assert sorted(env_names(main)) == sorted(compose_env("gateway"))
    # Literal settings as compose's defaults; the names the site answers to from the
    # settings an operator edits (they are the cluster's own).
    literal = {e["name"]: e["value"] for e in main["env"] if "value" in e}
    assert literal == {k: v for k, v in compose_env("gateway").items() if k in literal}
    assert set(compose_env("gateway")) - set(literal) == {"BANTIN_ALLOWED_HOSTS"}
    [template] = [m for m in main["volumeMounts"] if m["mountPath"] == "/etc/nginx/templates"]
    [volume] = [v for v in spec["volumes"] if v["name"] == template["name"]]
    assert volume["configMap"]["name"] == "bantin-gateway-template"
    # Each upstream address is a Service of that name on its port.
    for service in SERVICES:
        port = find("Service", service)["spec"]["ports"][0]["port"]
        assert compose_env("gateway")[f"BANTIN_{service.upper()}_ADDR"] == f"{service}:{port}"
    public = find("Service", "gateway")["spec"]
    assert public["externalTrafficPolicy"] == "Local"  # the reader's address reaches nginx


def test_the_first_admin_job_is_the_one_compose_runs() -> None:
    job = container(pod_spec("Job", "first-admin"), "first-admin")
    assert job["command"] == COMPOSE["services"]["first-admin"]["command"]
    assert sorted(env_names(job)) == sorted(compose_env("first-admin"))


def test_only_the_gateway_reaches_the_services() -> None:
    policy = find("NetworkPolicy", "services-only-from-the-gateway")["spec"]
    selected = policy["podSelector"]["matchLabels"].items()
    for service in SERVICES:
        labels = find("Deployment", service)["spec"]["template"]["metadata"]["labels"]
        assert selected <= labels.items()
    [rule] = policy["ingress"]
    [source] = rule["from"]
    gateway_labels = find("Deployment", "gateway")["spec"]["template"]["metadata"]["labels"]
    assert source["podSelector"]["matchLabels"].items() <= gateway_labels.items()
    assert selected - gateway_labels.items()  # the gateway itself stays reachable


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_its_own_broker_account_made_by_the_topology_step(service: str) -> None:
    spec = pod_spec("Deployment", service)
    assert secret_key(container(spec, service), "AMQP_URL") == f"{service}-amqp-url"
    [topology] = spec["initContainers"]
    assert secret_key(topology, "AMQP_URL") == "amqp-url"  # the administrator: the step only
    for each in SERVICES:
        assert secret_key(topology, f"{each.upper()}_AMQP_URL") == f"{each}-amqp-url"
    example = find("Secret", "bantin-secrets")["stringData"]
    assert example[f"{service}-amqp-url"].startswith(f"amqp://{service}:")
