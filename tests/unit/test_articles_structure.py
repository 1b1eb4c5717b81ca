"""The articles service keeps one copy of each request helper and builds its 422 answers
with the shared services.common.errors helpers, so the modules cannot drift apart."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from tests.support.infra import ROOT

ARTICLES = ROOT / "services" / "articles"
# Every template an articles page is made of: its own and the shared base.html.
TEMPLATES = (ARTICLES / "templates", ROOT / "services" / "common" / "templates")


def modules(directory: Path = ARTICLES) -> dict[str, ast.Module]:
    return {p.name: ast.parse(p.read_text(), str(p)) for p in sorted(directory.glob("*.py"))}


def _body_without_docstring(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return "\n".join(ast.dump(statement) for statement in body)


def copied_functions(directory: Path = ARTICLES) -> list[list[str]]:
    """Groups of functions (module:name) whose bodies are the same code."""
    seen: dict[str, list[str]] = defaultdict(list)
    for name, tree in modules(directory).items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                seen[_body_without_docstring(node)].append(f"{name}:{node.name}")
    return [group for group in seen.values() if len(group) > 1]


def own_422_builders(directory: Path = ARTICLES) -> list[str]:
    """Places that build a 422 Problem themselves instead of using invalid_input()."""
    found = []
    for name, tree in modules(directory).items():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "Problem"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value == 422
            ):
                found.append(f"{name}:{node.lineno}")
    return found


def users_of(attribute: str, directory: Path = ARTICLES) -> set[str]:
    return {
        name
        for name, tree in modules(directory).items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and node.id == attribute
    }


def test_no_function_is_a_copy_of_another() -> None:
    assert copied_functions() == []


def test_422_answers_come_from_the_shared_builders() -> None:
    assert own_422_builders() == []


def test_one_module_decides_what_a_bad_token_means_for_an_optional_sign_in() -> None:
    assert users_of("principal_from_request") == {"http_common.py"}


# --- no inline script in the pages (the Content-Security-Policy allows none) ---------------

INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
JAVASCRIPT_URL = re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def inline_code(*directories: Path) -> list[str]:
    found = []
    for template in sorted(t for d in directories or TEMPLATES for t in d.glob("*.html")):
        text = template.read_text()
        for pattern in (INLINE_SCRIPT, EVENT_HANDLER, JAVASCRIPT_URL):
            found += [f"{template.name}: {m.group(0)}" for m in pattern.finditer(text)]
    return found


def test_no_template_has_inline_script_or_event_handlers() -> None:
    assert inline_code() == []


def test_the_inline_code_check_sees_what_it_must(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text(
        '<script>x()</script><script src="/static/beacon.js" defer></script>'
        '<button type="button" onclick="window.print()">In</button>'
        '<a href="javascript:history.back()">Quay lại</a>'
    )
    assert len(inline_code(tmp_path)) == 3
