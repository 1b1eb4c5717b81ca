"""The HTTP contract holds: schemathesis sends each service's OpenAPI document's operations,
with generated valid and invalid input, to the real processes (`python -m services.<name>`)
on a fresh database and vhost, with an admin token for the protected routes. Any server
error, undocumented status, answer breaking its own schema or wrong content type fails the
test, and schemathesis' report (a curl command per failure) is the failure message."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from services.common.events import topology
from tests.support import keys
from tests.support.infra import (
    ROOT,
    create_database,
    create_vhost,
    delete_vhost,
    drop_database,
)
from tests.support.private_services import free_port

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = (
    "not_a_server_error,status_code_conformance,response_schema_conformance,"
    "content_type_conformance"
)
EXAMPLES_PER_OPERATION = 25
SEED = 20260
ADMIN = {"username": "quantri", "password": "mat-khau-hop-dong-2026"}
# Where each service's document is served.
DOCUMENTS = {
    "articles": "/api/v1/articles/openapi.json",
    "feedback": "/api/v1/feedback/openapi.json",
    "counter": "/api/v1/views/openapi.json",
}
READY_DEADLINE = 60.0


@dataclass(frozen=True)
class Stack:
    urls: dict[str, str]
    token: str


def call(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    """One JSON request: (status, the decoded answer or None)."""
    request = urllib.request.Request(url, method=method)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, data, timeout=10) as response:
            raw, status = response.read(), response.status
    except urllib.error.HTTPError as refused:
        raw, status = refused.read(), refused.code
    except OSError:
        return 0, None  # not listening yet
    return status, json.loads(raw) if raw else None


def poll(check: Callable[[], bool], what: str, deadline: float = READY_DEADLINE) -> None:
    """Wait until `check` holds, at most `deadline` seconds."""
    give_up = time.monotonic() + deadline
    while not check():
        if time.monotonic() > give_up:
            raise AssertionError(f"{what}: not reached within {deadline} s")
        time.sleep(0.1)


def start(name: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def seed(urls: dict[str, str], token: str) -> None:
    """A category, a published article (which reaches the counter and feedback by events),
    a view and a feedback item: something for the generated requests to find."""
    articles = urls["articles"]
    status, category = call("POST", f"{articles}/api/v1/categories", {"name": "Thời sự"}, token)
    assert status == 201, category
    draft = {
        "title": "Hội nghị tổng kết năm",
        "summary": "Tóm tắt",
        "body_html": "<p>Nội dung bài viết.</p>",
        "byline": "Phóng viên",
        "category_id": category["id"],
    }
    status, article = call("POST", f"{articles}/api/v1/articles", draft, token)
    assert status == 201, article
    status, _ = call("POST", f"{articles}/api/v1/articles/{article['id']}/publish", None, token)
    assert status == 200
    view = {"article_id": article["id"]}
    poll(
        lambda: call("POST", f"{urls['counter']}/api/v1/views", view)[0] == 204,
        "the published article reaches the counter",
    )
    feedback = {"author_name": "Nguyễn Thị Lan", "body": "Cảm ơn ban biên tập rất nhiều."}
    status, item = call("POST", f"{urls['feedback']}/api/v1/feedback", feedback)
    assert status == 202, item


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("contract")
    database = create_database()
    vhost = create_vhost()
    key_pair = keys.new_keypair()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        asyncio.run(topology.apply(vhost.url))
        base = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONUNBUFFERED": "1",
            "AMQP_URL": vhost.url,
            "AUTH_PUBLIC_KEY": key_pair.public_pem,
            "RELAY_POLL_MS": "200",
            "LOG_LEVEL": "WARNING",
            "FEEDBACK_FORM_SECRET": "hop-dong-api-bi-mat",
            "COUNTER_BATCH_DELAY_MS": "5",
        }
        urls: dict[str, str] = {}
        for name in DOCUMENTS:
            port = free_port()
            env = base | {
                "HTTP_PORT": str(port),
                f"{name.upper()}_DATABASE_URL": database.dsn(name),
            }
            if name == "articles":
                env["AUTH_PRIVATE_KEY"] = key_pair.private_pem
            processes.append(start(name, env, logs / f"{name}.log"))
            urls[name] = f"http://127.0.0.1:{port}"
        for name, url in urls.items():
            poll(lambda url=url: call("GET", f"{url}/readyz")[0] == 200, f"{name} /readyz")
        subprocess.run(
            [sys.executable, "-m", "services.articles.create_admin"],
            cwd=ROOT,
            env=base
            | {
                "ARTICLES_DATABASE_URL": database.dsn("articles"),
                "BANTIN_ADMIN_USERNAME": ADMIN["username"],
                "BANTIN_ADMIN_PASSWORD": ADMIN["password"],
            },
            check=True,
            capture_output=True,
        )
        # The first admin chooses their own password before any token, as a person would.
        own = {**ADMIN, "password": ADMIN["password"] + "-rieng"}
        change = {
            "username": ADMIN["username"],
            "current_password": ADMIN["password"],
            "new_password": own["password"],
        }
        status, answer = call("POST", f"{urls['articles']}/api/v1/auth/password", change)
        assert status == 204, answer
        status, answer = call("POST", f"{urls['articles']}/api/v1/auth/token", own)
        assert status == 200, answer
        token = answer["access_token"]
        seed(urls, token)
        yield Stack(urls, token)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        delete_vhost(vhost)
        drop_database(database)


def json_operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(method, path) of every operation that takes a JSON body, path parameters filled."""
    return [
        (method.upper(), re.sub(r"\{(id|article_id)\}", "1", path).replace("{slug}", "gioi-thieu"))
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]


def raw_post(method: str, url: str, body: bytes, token: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"null")


@pytest.mark.parametrize("service", DOCUMENTS)
def test_json_nested_deeper_than_the_parser_goes_is_a_400(stack: Stack, service: str) -> None:
    """ "[" repeated past the parser's depth is no JSON anyone sends: a clear 400 on every
    JSON route, never a 500 (or, where the body limit is smaller, a 413)."""
    url = stack.urls[service]
    status, document = call("GET", url + DOCUMENTS[service])
    assert status == 200
    operations = json_operations(document)
    assert operations
    for method, path in operations:
        # Past the parser's depth (about 1000) yet under the smallest body limit (1 KB).
        status, problem = raw_post(method, url + path, b"[" * 1020, stack.token)
        assert (status, problem["code"]) == (400, "invalid_json"), (method, path, problem)
        status, problem = raw_post(method, url + path, b"[" * 5000, stack.token)
        assert (status, problem["code"]) in ((400, "invalid_json"), (413, "body_too_large"))


# Last: schemathesis changes what it may (it can even reset the admin's password, which then
# must be changed before any token), so the tests above run on the stack as seeded.
@pytest.mark.parametrize("service", DOCUMENTS)
def test_every_answer_is_documented(stack: Stack, service: str, tmp_path: Path) -> None:
    url = stack.urls[service]
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{url}{DOCUMENTS[service]}",
            "--url",
            url,
            "--header",
            f"Authorization: Bearer {stack.token}",
            "--checks",
            CHECKS,
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--seed",
            str(SEED),
            "--generation-database",
            "none",
            "--request-timeout",
            "15",
            "--no-color",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, (
        f"schemathesis found problems in {service}:\n{run.stdout}{run.stderr}"
    )
