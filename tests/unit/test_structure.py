"""The three services have one shape (docs/architecture.md, "One shape"): the same modules
with the same roles, so that knowing one service is knowing all. Read from the source with
`ast`, without importing anything; each check is shown to catch what it looks for."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.infra import ROOT

SERVICES_DIR = ROOT / "services"
COMMON = SERVICES_DIR / "common"
# The modules of the shape each service has (the counter serves no HTML: no pages.py).
SHAPE = ("config", "app", "api", "actions", "store", "domain", "events")
MODULES = {
    "articles": (*SHAPE, "pages"),
    "feedback": (*SHAPE, "pages"),
    "counter": SHAPE,
}
SERVICES = tuple(MODULES)
IO_LIBRARIES = frozenset({"aiohttp", "asyncpg", "aio_pika", "aiormq", "jinja2"})
# Calls that run SQL: only store.py (and services/common) may make them.
SQL_CALLS = frozenset(
    {"execute", "executemany", "fetch", "fetchrow", "fetchval", "copy_records_to_table"}
)
OUTBOX_SQL = re.compile(r"\b(FROM|INTO|UPDATE|JOIN|TABLE)\s+outbox\b", re.IGNORECASE)
ROUTE_ADDERS = frozenset({"add_get", "add_post", "add_put", "add_patch", "add_delete", "add_route"})


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def python_files(directory: Path) -> Iterator[Path]:
    yield from sorted(p for p in directory.rglob("*.py") if "__pycache__" not in p.parts)


def service_modules(service: str, root: Path = SERVICES_DIR) -> dict[str, ast.Module]:
    return {p.stem: parse(p) for p in sorted((root / service).glob("*.py"))}


def imported_names(tree: ast.Module) -> set[str]:
    """Every module a file imports ("services.common.db", "aiohttp", ...)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # "from services.common import db" imports the module services.common.db.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def module_path(name: str, root: Path) -> Path | None:
    """The file of a first-party module name, if it is one."""
    if not name.startswith("services."):
        return None
    base = root.joinpath(*name.split(".")[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def io_imports(path: Path, root: Path = SERVICES_DIR) -> dict[str, str]:
    """The I/O libraries `path` imports, directly or through first-party modules, each with
    the first-party module it comes through."""
    found: dict[str, str] = {}
    seen: set[Path] = set()
    todo = [path]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name in imported_names(parse(current)):
            top = name.split(".")[0]
            if top in IO_LIBRARIES:
                found.setdefault(top, str(current.relative_to(root.parent)))
            first_party = module_path(name, root)
            if first_party is not None:
                todo.append(first_party)
    return found


def calls_named(tree: ast.Module, names: frozenset[str]) -> list[int]:
    """Lines where a function or method of one of `names` is called."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Attribute) and node.func.attr in names)
            or (isinstance(node.func, ast.Name) and node.func.id in names)
        )
    ]


def app_keys_defined(tree: ast.Module) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Attribute) and node.func.attr == "AppKey")
            or (
                isinstance(node.func, ast.Subscript)
                and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr == "AppKey"
            )
        )
    ]


def outbox_sql(tree: ast.Module) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and OUTBOX_SQL.search(node.value)
    ]


# --- the shape ------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_the_modules_of_the_shape(service: str) -> None:
    present = set(service_modules(service))
    assert set(MODULES[service]) <= present


@pytest.mark.parametrize("service", SERVICES)
def test_a_domain_imports_no_io_library_directly_or_indirectly(service: str) -> None:
    assert io_imports(SERVICES_DIR / service / "domain.py") == {}


def test_the_io_check_follows_imports_through_common(tmp_path: Path) -> None:
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "helpers.py").write_text("from aiohttp import web\n")
    (tmp_path / "svc").mkdir()
    domain = tmp_path / "svc" / "domain.py"
    domain.write_text("from services.common import helpers\nimport jinja2\n")
    assert set(io_imports(domain, tmp_path)) == {"aiohttp", "jinja2"}


@pytest.mark.parametrize("service", SERVICES)
def test_only_actions_and_events_write_events(service: str) -> None:
    writers = {
        name
        for name, tree in service_modules(service).items()
        if calls_named(tree, frozenset({"write_event"}))
    }
    assert writers <= {"actions", "events"}


@pytest.mark.parametrize("service", SERVICES)
def test_all_sql_is_in_the_store(service: str) -> None:
    found = {
        name: lines
        for name, tree in service_modules(service).items()
        if name != "store" and (lines := calls_named(tree, SQL_CALLS))
    }
    assert found == {}


@pytest.mark.parametrize("service", SERVICES)
def test_handlers_hold_no_transaction_and_actions_no_http(service: str) -> None:
    modules = service_modules(service)
    for handlers in ("api", "pages"):
        if handlers in modules:
            assert calls_named(modules[handlers], frozenset({"transaction"})) == [], handlers
    assert not {n for n in imported_names(modules["actions"]) if n.startswith("aiohttp")}


@pytest.mark.parametrize("service", SERVICES)
def test_every_app_key_of_a_service_is_defined_in_its_config(service: str) -> None:
    defined = {
        name: lines
        for name, tree in service_modules(service).items()
        if (lines := app_keys_defined(tree))
    }
    assert set(defined) <= {"config"}


@pytest.mark.parametrize("service", SERVICES)
def test_routes_are_registered_one_way(service: str) -> None:
    """Handler modules declare `routes = web.RouteTableDef()`; app.py adds them."""
    modules = service_modules(service)
    adding_one_by_one = {
        name: lines for name, tree in modules.items() if (lines := calls_named(tree, ROUTE_ADDERS))
    }
    assert adding_one_by_one == {}
    for handlers in ("api", "pages"):
        if handlers in modules:
            assert calls_named(modules[handlers], frozenset({"RouteTableDef"})), handlers


def test_no_service_imports_another() -> None:
    found = defaultdict(set)
    for path in python_files(SERVICES_DIR):
        owner = path.relative_to(SERVICES_DIR).parts[0]
        for name in imported_names(parse(path)):
            parts = name.split(".")
            if parts[0] == "services" and len(parts) > 1 and parts[1] not in (owner, "common"):
                found[str(path.relative_to(ROOT))].add(name)
    assert dict(found) == {}


def test_only_common_events_touch_the_outbox_table() -> None:
    found = {
        str(path.relative_to(ROOT)): lines
        for path in python_files(SERVICES_DIR)
        if COMMON / "events" not in path.parents and (lines := outbox_sql(parse(path)))
    }
    assert found == {}


def test_the_outbox_check_sees_sql_on_the_outbox() -> None:
    tree = ast.parse('q = """DELETE FROM outbox WHERE subject = $1"""\nnote = "the outbox"')
    assert outbox_sql(tree) == [1]


# --- what the services share, one copy each ---------------------------------------------------


def _body_without_docstring(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return "\n".join(ast.dump(statement) for statement in body)


def copied_functions(directory: Path) -> list[list[str]]:
    """Groups of functions (module:name) whose bodies are the same code."""
    seen: dict[str, list[str]] = defaultdict(list)
    for path in python_files(directory):
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                seen[_body_without_docstring(node)].append(f"{path.name}:{node.name}")
    return [group for group in seen.values() if len(group) > 1]


@pytest.mark.parametrize("service", SERVICES)
def test_no_function_is_a_copy_of_another(service: str) -> None:
    assert copied_functions(SERVICES_DIR / service) == []


def own_422_builders(directory: Path) -> list[str]:
    """Places that build a 422 Problem themselves instead of using invalid_input()."""
    return [
        f"{path.name}:{node.lineno}"
        for path in python_files(directory)
        for node in ast.walk(parse(path))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "Problem"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value == 422
    ]


def test_articles_builds_its_422_answers_with_the_shared_builder() -> None:
    assert own_422_builders(SERVICES_DIR / "articles") == []


def test_one_articles_module_decides_what_a_bad_token_means_for_an_optional_sign_in() -> None:
    users = {
        name
        for name, tree in service_modules("articles").items()
        if any(isinstance(n, ast.Name) and n.id == "principal_from_request" for n in ast.walk(tree))
    }
    assert users == {"answers"}


# --- no inline script in the pages (the Content-Security-Policy allows none) -----------------

# A script from a file, or a data block (JSON-LD for search engines), which no browser runs.
INLINE_SCRIPT = re.compile(
    r'<script\b(?![^>]*\bsrc=)(?![^>]*\btype="application/ld\+json")[^>]*>', re.IGNORECASE
)
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
JAVASCRIPT_URL = re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)
TEMPLATES = tuple(sorted(SERVICES_DIR.glob("*/templates")))


def inline_code(*directories: Path) -> list[str]:
    found = []
    for template in sorted(t for d in directories for t in d.rglob("*.html")):
        text = template.read_text()
        for pattern in (INLINE_SCRIPT, EVENT_HANDLER, JAVASCRIPT_URL):
            found += [f"{template.name}: {m.group(0)}" for m in pattern.finditer(text)]
    return found


def test_no_template_has_inline_script_or_event_handlers() -> None:
    assert len(TEMPLATES) >= 3  # articles', feedback's and the shared ones
    assert inline_code(*TEMPLATES) == []


def test_the_inline_code_check_sees_what_it_must(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text(
        '<script>x()</script><script src="/static/beacon.js" defer></script>'
        '<button type="button" onclick="window.print()">In</button>'
        '<a href="javascript:history.back()">Quay lại</a>'
        '<script type="application/ld+json">{"@type": "NewsArticle"}</script>'
        '<script type="text/javascript">y()</script>'
    )
    assert len(inline_code(tmp_path)) == 4
