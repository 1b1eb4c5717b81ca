"""Compare a service's OpenAPI document with the routes its app really serves."""

from __future__ import annotations

from typing import Any

from aiohttp import web

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


def documented_routes(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if method.upper() in METHODS
    }


def served_routes(app: web.Application, prefixes: tuple[str, ...]) -> set[tuple[str, str]]:
    """(method, path) of every route under `prefixes` (the document's own route included:
    every document lists itself)."""
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith(prefixes)
        and route.method in METHODS
    }
