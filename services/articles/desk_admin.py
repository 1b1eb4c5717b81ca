"""The desk's management pages: categories, tags and topics (editors and admins), users
(admins), and importing from an earlier site (admins).

Plain HTML forms, each with the desk's CSRF token, answered 303 back to the page with what
was done (?da=...), or the page again with the refusal in Vietnamese and nothing changed.
Every change goes through the actions the JSON API uses: one copy of the rules.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import BodyPartReader, web

from services.articles import actions, domain, import_articles, store
from services.articles.config import IMPORT_MAX_BYTES, IMPORT_TASKS
from services.articles.desk import (
    ADMINS,
    PUBLISHERS,
    check_csrf,
    desk_form,
    desk_page,
    desk_principal,
    field,
    refusal_text,
    see_other,
)
from services.articles.import_formats import UnreadableFile
from services.common import db
from services.common.errors import Problem
from services.common.roles import ROLES, Principal
from services.common.vietnam import utc_now
from services.common.web import POOL

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


# --- categories, tags, topics -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Kind:
    """One of the three lists an article is filed in, as its page shows and changes it."""

    path: str
    section: str
    title: str
    one: str  # "chuyên mục": what one item is called
    create: Callable[..., Any]
    rename: Callable[..., Any]
    delete: Callable[..., Any]
    listing: Callable[..., Any]
    not_found: type[domain.RefusalError]


async def _rename_category(pool: asyncpg.Pool, item_id: int, name: str, slug: None) -> Any:
    return await actions.update_category(pool, item_id, {"name": name})


async def _create_category(pool: asyncpg.Pool, name: str, slug: None, parent_id: int | None) -> Any:
    return await actions.create_category(pool, name, slug, parent_id=parent_id)


KINDS = {
    "chuyen-muc": Kind(
        "/quan-tri/chuyen-muc",
        "categories",
        "Chuyên mục",
        "chuyên mục",
        _create_category,
        _rename_category,
        actions.delete_category,
        store.list_categories,
        domain.CategoryNotFoundError,
    ),
    "the": Kind(
        "/quan-tri/the",
        "tags",
        "Thẻ",
        "thẻ",
        actions.create_tag,
        actions.rename_tag,
        actions.delete_tag,
        store.list_tags,
        domain.TagNotFoundError,
    ),
    "dong-su-kien": Kind(
        "/quan-tri/dong-su-kien",
        "topics",
        "Dòng sự kiện",
        "dòng sự kiện",
        actions.create_topic,
        actions.rename_topic,
        actions.delete_topic,
        store.list_topics,
        domain.TopicNotFoundError,
    ),
}
DONE = {
    "tao": "Đã tạo {one} “{name}”.",
    "doi-ten": "Đã đổi tên {one} thành “{name}”.",
    "xoa": "Đã xoá {one}.",
    "len": "Đã chuyển {one} lên.",
    "xuong": "Đã chuyển {one} xuống.",
}
NAME_MAX_LENGTH = 200


def _kind(request: web.Request) -> tuple[str, Kind]:
    slug = request.match_info["kind"]
    return slug, KINDS[slug]


def _item_id(request: web.Request, kind: Kind) -> int:
    raw = request.match_info["id"]
    if len(raw) > 18:
        raise kind.not_found()
    return int(raw)


async def _taxonomy_page(
    request: web.Request,
    principal: Principal,
    kind_slug: str,
    *,
    error: str | None = None,
    status: int = 200,
    typed: dict[str, str] | None = None,
) -> web.Response:
    kind = KINDS[kind_slug]
    async with db.acquire(request.app[POOL]) as conn:
        items = await kind.listing(conn)
    done_key = request.query.get("da", "")
    done = (
        DONE[done_key].format(one=kind.one, name=request.query.get("ten", ""))
        if (done_key in DONE)
        else None
    )
    context = {
        "kind": kind,
        "kind_slug": kind_slug,
        "items": _in_tree_order(items) if kind_slug == "chuyen-muc" else items,
        "parents": [c for c in items if kind_slug == "chuyen-muc" and c.parent_id is None],
        "error": error,
        "done": done,
        "typed": typed or {},
    }
    return desk_page(request, "desk/taxonomy.html", principal, kind.section, context, status=status)


def _in_tree_order(categories: list[Any]) -> list[tuple[Any, bool, bool]]:
    """Each category after its parent, with whether it is the first and the last of its
    siblings (its up and down buttons)."""
    tops = [c for c in categories if c.parent_id is None]
    ordered = []
    for n, parent in enumerate(tops):
        ordered.append((parent, n == 0, n == len(tops) - 1))
        kids = [c for c in categories if c.parent_id == parent.id]
        ordered += [(kid, i == 0, i == len(kids) - 1) for i, kid in enumerate(kids)]
    return ordered


TAXONOMY = r"/quan-tri/{kind:chuyen-muc|the|dong-su-kien}"


@routes.get(TAXONOMY)
async def taxonomy_page(request: web.Request) -> web.Response:
    principal = await desk_principal(request, PUBLISHERS)
    return await _taxonomy_page(request, principal, request.match_info["kind"])


def _name(form: Any) -> str:
    name = domain.one_line(field(form, "name"))
    if not name:
        raise domain.UserInputError("name", "Xin nhập tên.")
    if len(name) > NAME_MAX_LENGTH:
        raise domain.UserInputError("name", f"Tên dài tối đa {NAME_MAX_LENGTH} ký tự.")
    return name


def _parent_id(form: Any) -> int | None:
    raw = field(form, "parent_id")
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise domain.UserInputError("parent_id", "Chuyên mục cha không tồn tại.")
    return int(raw)


async def _change(
    request: web.Request, change: Callable[[Principal, Any, Kind], Any], done: str
) -> web.Response:
    """Run one change of a taxonomy page's form; the page again with the refusal if the
    rules refuse it (nothing changed), else 303 back to it saying what was done."""
    principal, form = await desk_form(request, PUBLISHERS)
    kind_slug, kind = _kind(request)
    try:
        name = await change(principal, form, kind)
    except domain.RefusalError as refused:
        status, message = refusal_text(refused)
        # What was typed into the new item's box stays there (not a rename's text).
        typed = {"name": field(form, "name")} if done == "tao" else None
        return await _taxonomy_page(
            request, principal, kind_slug, error=message, status=status, typed=typed
        )
    raise see_other(kind.path, da=done, ten=name)


@routes.post(TAXONOMY)
async def taxonomy_create(request: web.Request) -> web.Response:
    async def create(principal: Principal, form: Any, kind: Kind) -> str:
        name = _name(form)
        if kind is KINDS["chuyen-muc"]:
            await kind.create(request.app[POOL], name, None, _parent_id(form))
        else:
            await kind.create(request.app[POOL], name, None)
        return name

    return await _change(request, create, "tao")


@routes.post(TAXONOMY + r"/{id:\d+}/doi-ten")
async def taxonomy_rename(request: web.Request) -> web.Response:
    async def rename(principal: Principal, form: Any, kind: Kind) -> str:
        name = _name(form)
        await kind.rename(request.app[POOL], _item_id(request, kind), name, None)
        return name

    return await _change(request, rename, "doi-ten")


@routes.post(TAXONOMY + r"/{id:\d+}/xoa")
async def taxonomy_delete(request: web.Request) -> web.Response:
    async def delete(principal: Principal, form: Any, kind: Kind) -> str:
        await kind.delete(request.app[POOL], _item_id(request, kind))
        return ""

    return await _change(request, delete, "xoa")


@routes.post(r"/quan-tri/{kind:chuyen-muc}/{id:\d+}/{way:len|xuong}")
async def category_move(request: web.Request) -> web.Response:
    """Up or down among the categories of the same parent (buttons, no script needed)."""
    way = request.match_info["way"]

    async def move(principal: Principal, form: Any, kind: Kind) -> str:
        await actions.move_category(
            request.app[POOL], _item_id(request, kind), -1 if way == "len" else 1
        )
        return ""

    return await _change(request, move, way)


# --- users (admins) -----------------------------------------------------------------------

USERS = "/quan-tri/nguoi-dung"
ROLE_LABELS = {
    "admin": "Quản trị",
    "editor": "Biên tập",
    "author": "Tác giả",
    "moderator": "Kiểm duyệt phản hồi",
}
USER_DONE = {
    "vai-tro": "Đã lưu vai trò của {name}.",
    "khoa": "Đã khoá tài khoản {name}.",
    "mo-khoa": "Đã mở khoá tài khoản {name}.",
}


def temporary_password() -> str:
    """A password to hand over once: 16 random letters and digits in groups (easy to read
    out), longer than the minimum."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    letters = "".join(secrets.choice(alphabet) for _ in range(16))
    return "-".join(letters[i : i + 4] for i in range(0, 16, 4))


async def _users_page(
    request: web.Request,
    principal: Principal,
    *,
    error: str | None = None,
    status: int = 200,
    typed: dict[str, Any] | None = None,
    handed_over: tuple[Any, str] | None = None,
) -> web.Response:
    async with db.acquire(request.app[POOL]) as conn:
        users = await store.list_users(conn)
    done_key = request.query.get("da", "")
    done = (
        USER_DONE[done_key].format(name=request.query.get("ten", ""))
        if done_key in USER_DONE
        else None
    )
    context = {
        "users": users,
        "roles": sorted(ROLES, key=list(ROLE_LABELS).index),
        "role_labels": ROLE_LABELS,
        "error": error,
        "done": done,
        "typed": typed or {"roles": ["author"]},
        "handed_over": handed_over,
    }
    return desk_page(request, "desk/users.html", principal, "users", context, status=status)


@routes.get(USERS)
async def users_page(request: web.Request) -> web.Response:
    principal = await desk_principal(request, ADMINS)
    return await _users_page(request, principal)


def _roles(form: Any) -> list[str]:
    return [r for r in form.getall("roles", []) if isinstance(r, str)]


@routes.post(USERS)
async def user_create(request: web.Request) -> web.Response:
    """A new user with the roles chosen and a temporary password, shown once on the
    answer (never stored in the clear, never logged)."""
    principal, form = await desk_form(request, ADMINS)
    typed = {
        "username": field(form, "username"),
        "display_name": field(form, "display_name"),
        "roles": _roles(form),
    }
    password = temporary_password()
    try:
        fields = domain.checked_user_fields(
            {
                "username": typed["username"],
                "display_name": typed["display_name"] or typed["username"],
                "roles": typed["roles"],
            }
        )
        async with db.acquire(request.app[POOL]) as conn:
            user = await actions.create_user(
                conn,
                fields["username"],
                password,
                roles=fields["roles"],
                display_name=fields["display_name"],
                # A temporary password: its owner chooses their own at the first sign-in.
                must_change_password=True,
            )
    except domain.RefusalError as refused:
        status, message = refusal_text(refused)
        return await _users_page(request, principal, error=message, status=status, typed=typed)
    return await _users_page(request, principal, handed_over=(user, password), status=201)


def _user_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if len(raw) > 18:
        raise domain.UserNotFoundError()
    return int(raw)


async def _user_change(request: web.Request, done: str, **change: Any) -> web.Response:
    principal, form = await desk_form(request, ADMINS)
    if "roles" in change:
        change["roles"] = _roles(form)
    try:
        fields = domain.checked_user_fields(change)
        user = await actions.update_user(request.app[POOL], _user_id(request), **fields)
    except domain.RefusalError as refused:
        status, message = refusal_text(refused)
        return await _users_page(request, principal, error=message, status=status)
    raise see_other(USERS, da=done, ten=user.display_name)


@routes.post(USERS + r"/{id:\d+}/vai-tro")
async def user_roles(request: web.Request) -> web.Response:
    return await _user_change(request, "vai-tro", roles=None)


@routes.post(USERS + r"/{id:\d+}/khoa")
async def user_disable(request: web.Request) -> web.Response:
    return await _user_change(request, "khoa", disabled=True)


@routes.post(USERS + r"/{id:\d+}/mo-khoa")
async def user_enable(request: web.Request) -> web.Response:
    return await _user_change(request, "mo-khoa", disabled=False)


@routes.post(USERS + r"/{id:\d+}/dat-lai-mat-khau")
async def user_reset_password(request: web.Request) -> web.Response:
    """A new temporary password, shown once to the admin who hands it over."""
    principal, _ = await desk_form(request, ADMINS)
    password = temporary_password()
    try:
        user = await actions.reset_password(request.app[POOL], _user_id(request), password)
    except domain.RefusalError as refused:
        status, message = refusal_text(refused)
        return await _users_page(request, principal, error=message, status=status)
    return await _users_page(request, principal, handed_over=(user, password))


# --- import (admins) ----------------------------------------------------------------------

IMPORT = "/quan-tri/nhap-bai"
RECENT_IMPORTS = 10
# A running job whose progress was not written for this long lost its instance.
STALE_AFTER = timedelta(minutes=10)
# Progress is written at most this often (seconds), and at the end.
PROGRESS_EVERY = 0.5
CHUNK = 256 * 1024
FORMAT_NAMES = {"jsonl": "JSON Lines (.jsonl)", "wxr": "Tệp xuất WordPress (.xml)"}


def job_view(job: store.ImportJob) -> dict[str, Any]:
    """What the pages and the progress JSON say of a job (a running one left behind by a
    stopped instance reads as failed)."""
    status, error = job.status, job.error
    if status == "running" and utc_now() - job.touched_at > STALE_AFTER:
        status, error = "failed", "Việc nhập bị gián đoạn (máy chủ đã dừng); xin nhập lại tệp."
    percent = 100 if status == "done" else (job.done * 100 // job.total if job.total else 0)
    return {
        "id": job.id,
        "file_name": job.file_name,
        "format": FORMAT_NAMES[job.file_format],
        "status": status,
        "done": job.done,
        "total": job.total,
        "percent": percent,
        "summary": job.summary,
        "error": error,
        "started_at": job.started_at,
        "url": f"{IMPORT}/{job.id}",
    }


async def _import_page(
    request: web.Request, principal: Principal, *, error: str | None = None, status: int = 200
) -> web.Response:
    async with db.acquire(request.app[POOL]) as conn:
        jobs = await store.recent_import_jobs(conn, RECENT_IMPORTS)
    context = {
        "jobs": [job_view(j) for j in jobs],
        "error": error,
        "max_megabytes": IMPORT_MAX_BYTES // (1024 * 1024),
        "formats": FORMAT_NAMES,
    }
    return desk_page(request, "desk/import.html", principal, "import", context, status=status)


@routes.get(IMPORT)
async def import_page(request: web.Request) -> web.Response:
    principal = await desk_principal(request, ADMINS)
    return await _import_page(request, principal)


class UploadRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def _save_upload(request: web.Request, target: Path) -> tuple[str, str, str]:
    """Stream the multipart form's file into `target` (never whole in memory); the CSRF
    token, the file's name and the format asked for. UploadRefused for a bad upload."""
    if request.content_type != "multipart/form-data":
        raise UploadRefused(422, "Xin chọn tệp cần nhập.")
    reader = await request.multipart()
    texts: dict[str, str] = {}
    file_name = None
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "file" and part.filename:
            file_name = domain.clean_file_name(part.filename) or "tep-nhap"
            await _copy(part, target)
        elif part.name in ("csrf", "format"):
            texts[part.name] = (await part.read(decode=True))[:200].decode("utf-8", "replace")
        else:
            await part.release()
    if file_name is None:
        raise UploadRefused(422, "Xin chọn tệp cần nhập.")
    return texts.get("csrf", ""), file_name, texts.get("format", "")


async def _copy(part: BodyPartReader, target: Path) -> None:
    size = 0
    with target.open("wb") as out:
        while chunk := await part.read_chunk(CHUNK):
            size += len(chunk)
            if size > IMPORT_MAX_BYTES:
                raise UploadRefused(
                    413, f"Tệp vượt quá giới hạn {IMPORT_MAX_BYTES // (1024 * 1024)} MB."
                )
            # A small blocking write per chunk, as the file arrives.
            out.write(chunk)


@routes.post(IMPORT)
async def import_start(request: web.Request) -> web.Response:
    """Take the uploaded file (streamed to a temporary file), start its import in the
    background, and lead to its progress page."""
    principal = await desk_principal(request, ADMINS)
    request = request.clone(client_max_size=IMPORT_MAX_BYTES + 1024 * 1024)
    folder = Path(tempfile.mkdtemp(prefix="bantin-import-"))
    target = folder / "upload"
    try:
        csrf, file_name, wanted = await _save_upload(request, target)
        check_csrf(request, csrf)
        file_format = (
            wanted if wanted in FORMAT_NAMES else import_articles.guess_format(Path(file_name))
        )
        if target.stat().st_size == 0:
            raise UploadRefused(422, "Tệp trống, không có gì để nhập.")
    except UploadRefused as refused:
        _remove(folder)
        return await _import_page(request, principal, error=refused.message, status=refused.status)
    except BaseException:
        _remove(folder)
        raise
    async with db.acquire(request.app[POOL]) as conn:
        user = await store.get_user(conn, principal.user_id)
        job = await store.insert_import_job(conn, principal.user_id, file_name, file_format)
    username = user.username if user else ""
    task = asyncio.create_task(_run_import(request.app[POOL], job, folder, target, username))
    tasks = request.app[IMPORT_TASKS]
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    raise see_other(f"{IMPORT}/{job.id}")


def _remove(folder: Path) -> None:
    for path in folder.iterdir():
        path.unlink(missing_ok=True)
    folder.rmdir()


def summary_json(summary: import_articles.Summary) -> dict[str, Any]:
    return {
        "imported": summary.imported,
        "drafts": summary.drafts,
        "skipped": summary.skipped,
        "refused": [{"line": r.line, "reason": r.reason} for r in summary.refused],
        "images_stored": summary.images_stored,
        "images_left_out": [
            {"line": i.line, "reference": i.reference, "reason": i.reason}
            for i in summary.images_left_out
        ],
        "other_wordpress_items": summary.other_wordpress_items,
    }


async def _run_import(
    pool: asyncpg.Pool, job: store.ImportJob, folder: Path, path: Path, username: str
) -> None:
    """The import of the uploaded file, its progress written as it goes, its summary (or
    why it failed) at the end; the temporary file removed."""
    job_id, last = job.id, 0.0
    loop = asyncio.get_running_loop()

    async def progress(done: int, total: int) -> None:
        nonlocal last
        if loop.time() - last >= PROGRESS_EVERY or done in (0, total):
            last = loop.time()
            async with db.acquire(pool) as conn:
                await store.import_progress(conn, job_id, done, total)

    summary, error = None, None
    try:
        result = await import_articles.import_file(
            pool, path, job.file_format, username=username, on_progress=progress
        )
        summary = summary_json(result)
        if not result.read_anything:
            error = "Không đọc được bài viết nào trong tệp."
    except UnreadableFile as exc:
        error = str(exc).replace(str(path), job.file_name)
    except domain.UserNotFoundError:
        error = "Tài khoản của bạn không được phép nhập bài (cần quyền biên tập hoặc quản trị)."
    except asyncio.CancelledError:
        error = "Việc nhập bị dừng vì máy chủ dừng; xin nhập lại tệp (bài đã nhập được giữ)."
        raise
    except Exception:
        log.exception("import failed", extra={"job": job_id})
        error = "Việc nhập gặp lỗi ngoài dự kiến; bài đã nhập được giữ, xin thử lại."
    finally:
        _remove(folder)
        try:
            async with db.acquire(pool) as conn:
                await store.finish_import_job(conn, job_id, summary, error)
        except Exception:
            log.exception("import job not closed", extra={"job": job_id})


async def import_tasks(app: web.Application) -> AsyncIterator[None]:
    """The app's running imports: cancelled (and marked failed) when the service stops."""
    running: set[asyncio.Task[None]] = set()
    app[IMPORT_TASKS] = running
    yield
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)


def _job_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    return int(raw) if len(raw) <= 18 else 0


async def _job(request: web.Request) -> store.ImportJob:
    async with db.acquire(request.app[POOL]) as conn:
        job = await store.get_import_job(conn, _job_id(request))
    if job is None:
        raise Problem(404, "import_not_found", "Không tìm thấy lần nhập này.")
    return job


@routes.get(IMPORT + r"/{id:\d+}")
async def import_job_page(request: web.Request) -> web.Response:
    """The import's progress (a bar the script moves; without script the page reloads
    itself), then its summary."""
    principal = await desk_principal(request, ADMINS)
    job = job_view(await _job(request))
    context = {"job": job, "progress_url": f"{job['url']}/tien-do"}
    return desk_page(request, "desk/import_job.html", principal, "import", context)


@routes.get(IMPORT + r"/{id:\d+}/tien-do")
async def import_job_progress(request: web.Request) -> web.Response:
    """JSON for the progress bar: status, done, total, percent."""
    await desk_principal(request, ADMINS)
    job = job_view(await _job(request))
    body = {name: job[name] for name in ("status", "done", "total", "percent")}
    return web.json_response(body, headers={"Cache-Control": "no-store"})
