"""Bad input and faults as answers: application/problem+json for programs, a Vietnamese HTML
page for people (DESIGN rule 6). Handlers raise Problem; error_middleware renders it."""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from services.common import db

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """A request that cannot be served, with a stable machine `code` and a Vietnamese
    `detail` for the person who will read it."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"/problems/{self.code}",
            "title": TITLES.get(self.status, "Yêu cầu không thực hiện được"),
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = self.errors
        return body


TITLES = {
    400: "Yêu cầu không hợp lệ",
    401: "Cần đăng nhập",
    403: "Không có quyền",
    404: "Không tìm thấy",
    405: "Phương thức không được hỗ trợ",
    409: "Xung đột dữ liệu",
    413: "Nội dung quá lớn",
    415: "Kiểu nội dung không được hỗ trợ",
    422: "Dữ liệu không hợp lệ",
    429: "Quá nhiều yêu cầu",
    500: "Lỗi hệ thống",
    503: "Dịch vụ tạm thời không sẵn sàng",
}

# Errors aiohttp raises itself, as problems with stable codes.
_HTTP_CODES = {
    404: ("not_found", "Không tìm thấy trang hoặc tài nguyên bạn yêu cầu."),
    405: ("method_not_allowed", "Phương thức này không được hỗ trợ tại địa chỉ này."),
    413: ("body_too_large", "Nội dung gửi lên vượt quá giới hạn cho phép."),
}


def wants_json(request: web.Request) -> bool:
    if request.path.startswith("/api/"):
        return True
    accept = request.headers.get("Accept", "")
    return "json" in accept and "text/html" not in accept


def problem_response(request: web.Request, problem: Problem) -> web.Response:
    if wants_json(request):
        return web.Response(
            status=problem.status,
            text=json.dumps(problem.to_dict(), ensure_ascii=False),
            content_type=PROBLEM_JSON,
            headers=problem.headers,
        )
    return web.Response(
        status=problem.status,
        text=error_page(problem),
        content_type="text/html",
        headers=problem.headers,
    )


def error_page(problem: Problem) -> str:
    title = html.escape(TITLES.get(problem.status, "Có lỗi xảy ra"))
    items = "".join(
        f"<li>{html.escape(e.get('field', ''))}: {html.escape(e['message'])}</li>"
        for e in problem.errors
    )
    return f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body><main>
<h1>{title}</h1>
<p>{html.escape(problem.detail)}</p>
{f"<ul>{items}</ul>" if items else ""}
<p><a href="/">Về trang chủ</a></p>
</main></body></html>
"""


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as raised:
        return problem_response(request, raised)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code, detail = _HTTP_CODES.get(exc.status, ("http_error", exc.reason))
        return problem_response(request, Problem(exc.status, code, detail))
    except db.UNAVAILABLE_ERRORS:
        if _reader_left(request):
            # The reader closed the connection mid-answer (a long export): nobody is left
            # to answer, and the database is not at fault.
            log.info("the client closed the connection before the answer was sent")
            raise
        log.warning("database unavailable while serving a request", exc_info=True)
        unavailable = Problem(
            503,
            "service_unavailable",
            "Hệ thống đang bận hoặc bảo trì, xin vui lòng thử lại sau ít phút.",
            headers={"Retry-After": "5"},
        )
        return problem_response(request, unavailable)
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        failure = Problem(500, "internal_error", "Đã có lỗi hệ thống, xin vui lòng thử lại sau.")
        return problem_response(request, failure)


def _reader_left(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def refusal_middleware(refusal: type[Exception], answer: Callable[[Any], Problem]) -> Middleware:
    """A middleware that answers a domain's refusal (an exception of `refusal` that a
    handler lets through) with the Problem `answer` makes of it; error_middleware then
    renders it. Handlers that answer a refusal their own way (a form shown again) catch it
    first."""

    @web.middleware
    async def refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except refusal as refused:
            raise answer(refused) from refused

    return refusals


# Vietnamese wording of JSON Schema failures, by the keyword that failed.
_FIELD_MESSAGES = {
    "required": "Thiếu thông tin bắt buộc.",
    "type": "Sai kiểu dữ liệu.",
    "minLength": "Không được để trống hoặc quá ngắn.",
    "maxLength": "Quá dài (tối đa {maxLength} ký tự).",
    "minimum": "Giá trị quá nhỏ (tối thiểu {minimum}).",
    "maximum": "Giá trị quá lớn (tối đa {maximum}).",
    "format": "Sai định dạng.",
    "pattern": "Sai định dạng.",
    "enum": "Giá trị không nằm trong danh sách cho phép.",
    "additionalProperties": "Có trường không được phép.",
}


def _field_error(error: ValidationError) -> dict[str, str]:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = next((f for f in error.validator_value if f not in error.instance), "")
        path.append(str(missing))
    template = _FIELD_MESSAGES.get(str(error.validator), "Giá trị không hợp lệ.")
    schema = error.schema if isinstance(error.schema, dict) else {}
    try:
        message = template.format(**schema)
    except (KeyError, IndexError):
        message = template
    return {"field": ".".join(path) or "(toàn bộ)", "message": message}


def check_input(instance: Any, validator: Draft202012Validator) -> None:
    """Raise a 422 Problem listing every field that does not match the schema."""
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        raise Problem(
            422,
            "invalid_input",
            "Dữ liệu gửi lên không hợp lệ, xin kiểm tra lại các trường được nêu.",
            errors=[_field_error(e) for e in errors],
        )


async def read_json(request: web.Request, validator: Draft202012Validator | None = None) -> Any:
    """The request's JSON body, checked against `validator`; a clear 4xx otherwise."""
    raw = await request.read()  # first, so an oversized body is a 413 whatever its type
    if request.content_type not in ("application/json", "application/merge-patch+json"):
        raise Problem(
            415, "unsupported_media_type", "Nội dung phải ở dạng JSON (application/json)."
        )
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        # RecursionError: nesting deeper than the parser goes ("[" * 5000) is no JSON we take.
        raise Problem(400, "invalid_json", "Nội dung gửi lên không phải JSON hợp lệ.") from exc
    if validator is not None:
        check_input(body, validator)
    if nul_fields := sorted(_fields_where(body, _holds_nul)):
        # Postgres text cannot hold U+0000, and no reader ever types it.
        raise invalid_input(dict.fromkeys(nul_fields, "Không được chứa ký tự NUL (\\u0000)."))
    if broken_fields := sorted(_fields_where(body, _not_unicode)):
        # JSON's "\\ud800" escape is half a character: it has no UTF-8 form to store or show.
        raise invalid_input(
            dict.fromkeys(broken_fields, "Có ký tự không hợp lệ (nửa cặp UTF-16 đứng riêng).")
        )
    return body


def _holds_nul(text: str) -> bool:
    return "\x00" in text


def _not_unicode(text: str) -> bool:
    """A lone surrogate: text that UTF-8 cannot encode."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _fields_where(value: Any, bad: Callable[[str], bool], path: str = "") -> Iterator[str]:
    """The paths ("author_name", "items.2") of the strings in `value` that are `bad`."""
    if isinstance(value, str):
        if bad(value):
            yield path or "(toàn bộ)"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _fields_where(item, bad, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _fields_where(item, bad, f"{path}.{index}" if path else str(index))


def input_validator(schema: dict[str, Any]) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def invalid_input(
    errors: dict[str, str],
    *,
    code: str = "invalid_input",
    detail: str = "Dữ liệu gửi lên không hợp lệ, xin kiểm tra lại các trường được nêu.",
) -> Problem:
    """A 422 naming each bad field with a Vietnamese message; a `code` more precise than
    invalid_input where a program may want to tell the case apart (a decompression bomb)."""
    return Problem(
        422,
        code,
        detail,
        errors=[{"field": field, "message": message} for field, message in errors.items()],
    )


def query_int(request: web.Request, name: str, low: int, high: int) -> int | None:
    """The query parameter `name` as an integer in [low, high], None when absent, a 422
    otherwise."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise invalid_input({name: f"Phải là số nguyên từ {low} đến {high}."})
    return int(raw)
