"""Each service's OpenAPI document lists exactly the API routes its app serves, with the
request schemas the handlers check input against, and every answer as JSON with the
shared problem+json shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from jsonschema import Draft202012Validator

from services.articles import api as articles_api
from services.articles import openapi as articles_openapi
from services.articles.app import create_app as create_articles_app
from services.articles.config import ArticlesConfig
from services.common.config import Settings
from services.common.errors import PROBLEM_JSON
from services.common.openapi import PROBLEM_SCHEMA
from services.counter import api as counter_api
from services.counter import openapi as counter_openapi
from services.counter.app import create_app as create_counter_app
from services.feedback import api as feedback_api
from services.feedback import openapi as feedback_openapi
from services.feedback.app import create_app as create_feedback_app
from services.feedback.config import FeedbackConfig
from tests.support import keys
from tests.support.openapi import documented_routes, served_routes

Document = dict[str, Any]


def settings(service: str) -> Settings:
    return Settings(
        service=service,
        database_url="postgresql://nobody@127.0.0.1:1/none",  # never connected: no start-up
        amqp_url="amqp://guest:guest@127.0.0.1:1/",
        auth_private_key=keys.new_keypair().private_pem if service == "articles" else None,
    )


def articles_app() -> web.Application:
    return create_articles_app(settings("articles"), ArticlesConfig())


def feedback_app() -> web.Application:
    return create_feedback_app(settings("feedback"), FeedbackConfig(form_secret=b"x" * 32))


def counter_app() -> web.Application:
    return create_counter_app(settings("counter"))


# (the document's builder, the app, the paths the document covers)
SERVICES: dict[
    str, tuple[Callable[[], Document], Callable[[], web.Application], tuple[str, ...]]
] = {
    "articles": (articles_openapi.document, articles_app, ("/api/",)),
    "feedback": (feedback_openapi.document, feedback_app, ("/api/",)),
    "counter": (counter_openapi.document, counter_app, ("/api/", "/v.gif")),
}


@pytest.mark.parametrize("service", SERVICES)
def test_every_api_route_is_documented_and_nothing_else(service: str) -> None:
    document, app, prefixes = SERVICES[service]
    assert documented_routes(document()) == served_routes(app(), prefixes)


@pytest.mark.parametrize("service", SERVICES)
def test_documents_are_json_with_valid_schemas(service: str) -> None:
    document = SERVICES[service][0]()
    json.dumps(document)
    assert document["openapi"] == "3.1.0"
    assert document["components"]["schemas"]["Problem"] is PROBLEM_SCHEMA
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("service", SERVICES)
def test_every_refusal_is_a_problem_and_every_database_read_may_be_a_503(service: str) -> None:
    document = SERVICES[service][0]()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for status, answer in responses.items():
                if int(status) >= 400:
                    assert list(answer["content"]) == [PROBLEM_JSON], (method, path, status)
            if not path.endswith("openapi.json"):
                assert "503" in responses, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "415", "422"} <= set(responses), (method, path)
            if "security" in operation:
                assert {"401", "403"} <= set(responses), (method, path)


def _body_schema(document: Document, path: str, method: str, media: str) -> Any:
    schema = document["paths"][path][method]["requestBody"]["content"][media]["schema"]
    if "$ref" in schema:
        return document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_request_bodies_are_the_schemas_the_handlers_check() -> None:
    checked = [
        (articles_openapi, "/api/v1/auth/token", "post", articles_api.LOGIN),
        (articles_openapi, "/api/v1/articles", "post", articles_api.ARTICLE_CREATE),
        (articles_openapi, "/api/v1/articles/{id}", "patch", articles_api.ARTICLE_PATCH),
        (articles_openapi, "/api/v1/categories", "post", articles_api.CATEGORY_CREATE),
        (articles_openapi, "/api/v1/pages/{slug}", "put", articles_api.PAGE_PUT),
        (articles_openapi, "/api/v1/pages", "post", articles_api.PAGE_CREATE),
        (articles_openapi, "/api/v1/pages/{slug}", "patch", articles_api.PAGE_PATCH),
        (articles_openapi, "/api/v1/users", "post", articles_api.USER_CREATE),
        (articles_openapi, "/api/v1/users/{id}", "patch", articles_api.USER_PATCH),
        (feedback_openapi, "/api/v1/feedback", "post", feedback_api.SUBMISSION_SCHEMA),
        (feedback_openapi, "/api/v1/feedback/{id}", "patch", feedback_api.EDIT_SCHEMA),
        (feedback_openapi, "/api/v1/feedback/{id}/reply", "put", feedback_api.REPLY_SCHEMA),
        (
            counter_openapi,
            "/api/v1/views/{article_id}/imported",
            "put",
            counter_api.IMPORTED_SCHEMA,
        ),
    ]
    for module, path, method, validator in checked:
        document = module.document()
        assert _body_schema(document, path, method, "application/json") is validator.schema
    counter = counter_openapi.document()
    for media in ("application/json", "text/plain"):
        assert (
            _body_schema(counter, "/api/v1/views", "post", media)
            is counter_api.BEACON_SCHEMA.schema
        )
