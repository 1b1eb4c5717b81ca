"""The articles API's OpenAPI document lists exactly the API routes the app serves, with
the request schemas the handlers check input against."""

from __future__ import annotations

import json

from jsonschema import Draft202012Validator

from services.articles import api, openapi
from services.articles.app import create_app
from services.articles.config import ArticlesConfig
from services.common.config import Settings
from tests.support import keys
from tests.support.openapi import documented_routes, served_routes


def served_api_routes() -> set[tuple[str, str]]:
    key_pair = keys.new_keypair()
    settings = Settings(
        service="articles",
        database_url="postgresql://nobody@127.0.0.1:1/none",  # never connected: no start-up
        amqp_url="amqp://guest:guest@127.0.0.1:1/",
        auth_private_key=key_pair.private_pem,
    )
    app = create_app(settings, ArticlesConfig())
    return served_routes(app, ("/api/",), with_document=False)


def test_every_api_route_is_documented_and_nothing_else() -> None:
    document = openapi.document()
    assert documented_routes(document) == served_api_routes()


def test_request_bodies_are_the_schemas_the_handlers_check() -> None:
    paths = openapi.document()["paths"]
    body = paths["/api/v1/articles"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] is api.ARTICLE_CREATE.schema
    for method, validator in (("post", api.USER_CREATE), ("patch", api.USER_PATCH)):
        path = "/api/v1/users" if method == "post" else "/api/v1/users/{id}"
        body = paths[path][method]["requestBody"]["content"]["application/json"]
        assert body["schema"] is validator.schema
    for schema in openapi.SCHEMAS.values():
        Draft202012Validator.check_schema(schema)
    json.dumps(openapi.document())
