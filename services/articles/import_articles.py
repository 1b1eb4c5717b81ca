"""Import articles from an earlier site.

    python -m services.articles.import_articles FILE [--format jsonl|wxr]
        [--images-from DIR] [--as USERNAME]

FILE is JSON Lines (one article a line, docs/operations.md lists the fields) or a
WordPress export (WXR, "Tools > Export"); the format is taken from the file name (.jsonl,
.xml) unless given. Images are read from disk, never fetched: a path relative to FILE, a
file:// URL, or (for http URLs, as in a WordPress export) the file of the same name in
--images-from DIR. The database is ARTICLES_DATABASE_URL; it runs where the articles
service runs, writes through its actions and outbox (the running service's relay
publishes the events), and acts as --as USERNAME (an editor or admin; default: the first
admin).

Each article is created, given its category, tags, dates and view count, and published at
its own time (or left a draft), in one transaction with its article.published event,
which carries the view count to the counter. Idempotent: an external id imported before
is skipped, never doubled nor overwritten (editors may have changed the article since).
At the end a summary: imported, skipped, refused (line and reason), images stored and
images left out (line and reason). Exit status 1 only if nothing could be read at all.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import asyncpg
from tqdm import tqdm

from services.articles import actions, domain
from services.articles.import_formats import (
    ArticleRecord,
    Refusal,
    UnreadableFile,
    image_candidates,
    image_sources,
    parse_jsonl,
    parse_wxr,
    with_image_sources,
)
from services.common import db
from services.common.config import ConfigError, database_url
from services.common.roles import Principal

SERVICE_DIR = Path(__file__).parent
FORMATS = ("jsonl", "wxr")
# Read limit for one image file: the upload limit of the API.
# Articles per transaction: one commit for many (each still in a savepoint of its own).
BATCH = 100


@dataclass(frozen=True)
class LeftOutImage:
    line: int
    reference: str
    reason: str


@dataclass
class Summary:
    imported: int = 0
    drafts: int = 0
    skipped: int = 0
    refused: list[Refusal] = field(default_factory=list)
    images_stored: int = 0
    images_left_out: list[LeftOutImage] = field(default_factory=list)
    other_wordpress_items: int = 0

    @property
    def read_anything(self) -> bool:
        return bool(self.imported or self.skipped or self.refused)


class ImageStore:
    """Images of the import brought into our store (actions.add_image), each file once per
    run however many articles use it; what cannot be found or read is left out, with why."""

    def __init__(self, pool: asyncpg.Pool, principal: Principal, base_dir: Path) -> None:
        self.pool = pool
        self.principal = principal
        self.base_dir = base_dir
        self.images_from: Path | None = None
        self.stored: dict[Path, actions.StoredImage] = {}
        self.summary = Summary()

    async def image(self, reference: str, line: int) -> actions.StoredImage | None:
        """The referenced image in our store, or None (reported) if it is not there."""
        candidates = image_candidates(reference, self.base_dir, self.images_from)
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            self._left_out(line, reference, "không tìm thấy tệp ảnh")
            return None
        path = path.resolve()
        if path in self.stored:
            return self.stored[path]
        try:
            if path.stat().st_size > domain.IMAGE_MAX_BYTES:
                megabytes = domain.IMAGE_MAX_BYTES // 2**20
                self._left_out(line, reference, f"ảnh lớn hơn {megabytes} MB")
                return None
            data = path.read_bytes()
            image = await actions.add_image(self.pool, data, self.principal.user_id)
        except OSError as exc:
            self._left_out(line, reference, f"không đọc được ({exc.strerror})")
            return None
        except domain.UnsupportedImageError:
            self._left_out(line, reference, "không phải ảnh JPEG, PNG, WebP, GIF hay HEIC")
            return None
        except domain.BrokenImageError:
            self._left_out(line, reference, "ảnh bị hỏng, không đọc được")
            return None
        except domain.ImageTooManyPixelsError:
            megapixels = domain.IMAGE_MAX_PIXELS // 1_000_000
            self._left_out(line, reference, f"ảnh quá {megapixels} triệu điểm ảnh")
            return None
        self.stored[path] = image
        self.summary.images_stored += 1
        return image

    def _left_out(self, line: int, reference: str, reason: str) -> None:
        self.summary.images_left_out.append(LeftOutImage(line, reference, reason))


class Importer:
    """Stores records through the articles actions, a batch of them per transaction (each
    article in a savepoint of its own, so a refused one leaves nothing behind)."""

    def __init__(
        self, pool: asyncpg.Pool, principal: Principal, images: ImageStore, batch: int = BATCH
    ) -> None:
        self.pool = pool
        self.principal = principal
        self.images = images
        self.summary = images.summary
        self.batch = batch
        self.categories: dict[tuple[str, str | None], int] = {}
        self.done: set[str] = set()
        self.pending: list[tuple[int, actions.ImportItem]] = []

    async def start(self) -> None:
        self.done = await actions.imported_external_ids(self.pool)

    async def take(self, item: ArticleRecord | Refusal) -> None:
        if isinstance(item, Refusal):
            self.summary.refused.append(item)
            return
        if item.external_id in self.done:
            self.summary.skipped += 1
            return
        try:
            self.pending.append((item.line, await self._prepared(item)))
        except domain.RefusalError as refusal:
            self.summary.refused.append(Refusal(item.line, refusal_reason(refusal)))
        if len(self.pending) >= self.batch:
            await self.flush()

    async def flush(self) -> None:
        """Import what is pending, in one transaction."""
        if not self.pending:
            return
        items = [item for _, item in self.pending]
        results = await actions.import_batch(self.pool, self.principal, items)
        for (line, item), result in zip(self.pending, results, strict=True):
            if isinstance(result, domain.RefusalError):
                self.summary.refused.append(Refusal(line, refusal_reason(result)))
            elif result is None:  # imported meanwhile, or twice in the file
                self.summary.skipped += 1
            else:
                self.done.add(item.external_id)
                self.summary.imported += 1
                self.summary.drafts += 0 if result.is_public else 1
        self.pending = []

    async def _prepared(self, record: ArticleRecord) -> actions.ImportItem:
        """The record's fields as the action takes them, its images already stored."""
        body: dict[str, Any] = {
            "title": record.title,
            "summary": record.summary,
            "body_html": await self._body(record),
            "author_name": record.author,
            "unit": record.unit,
            "category_id": await self._category(record),
            "image_caption": record.caption,
            "tags": list(record.tags),
        }
        if record.image:
            lead = await self.images.image(record.image, record.line)
            body["image_id"] = lead.id if lead else None
        return actions.ImportItem(
            external_id=record.external_id,
            body=body,
            times=actions.ImportTimes(record.published_at, record.updated_at),
            imported_views=record.views,
            publish=record.status == "published",
        )

    async def _body(self, record: ArticleRecord) -> str:
        """The body with each image brought into our store and pointing there."""
        replacements = {}
        for source in image_sources(record.body_html):
            image = await self.images.image(source, record.line)
            if image is not None:
                replacements[source] = image.url
        return with_image_sources(record.body_html, replacements)

    async def _category(self, record: ArticleRecord) -> int:
        key = (record.category, record.category_parent)
        if key not in self.categories:
            category = await actions.category_for_import(
                self.pool, record.category, record.category_parent
            )
            self.categories[key] = category.id
        return self.categories[key]


def refusal_reason(refusal: domain.RefusalError) -> str:
    """A refusal of the rules as one line of the summary."""
    if isinstance(refusal, domain.InvalidFieldsError):
        return "; ".join(f"{name}: {message}" for name, message in refusal.fields.items())
    return str(refusal) or type(refusal).__name__


# --- reading the file ---------------------------------------------------------------------


def guess_format(path: Path) -> str:
    return "wxr" if path.suffix.lower() in (".xml", ".wxr") else "jsonl"


def read_records(path: Path, file_format: str, summary: Summary) -> list[ArticleRecord | Refusal]:
    """Every article of the file as a record or a refusal; UnreadableFile if none can be."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(f"Không đọc được tệp {path}: {exc.strerror}") from None
    if file_format == "wxr":
        export = parse_wxr(data)
        summary.other_wordpress_items = export.skipped_types
        return export.items
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableFile(f"Tệp {path} không phải UTF-8.") from None
    return list(parse_jsonl(text))


def progress(items: list[ArticleRecord | Refusal], out: TextIO) -> Iterable[Any]:
    """The items, with a progress bar when `out` is a terminal (never in logs or pipes)."""
    if not out.isatty():
        return items
    return tqdm(items, desc="Nhập bài", unit=" bài", file=out)


async def run_import(
    dsn: str,
    path: Path,
    file_format: str,
    images_from: Path | None,
    username: str | None,
    out: TextIO = sys.stdout,
) -> Summary:
    await db.migrate(dsn, SERVICE_DIR)
    pool = await db.create_pool(dsn, max_size=2)
    try:
        return await import_file(pool, path, file_format, images_from, username, out)
    finally:
        await pool.close()


async def import_file(
    pool: asyncpg.Pool,
    path: Path,
    file_format: str,
    images_from: Path | None = None,
    username: str | None = None,
    out: TextIO = sys.stdout,
    on_progress: Callable[[int, int], Awaitable[None]] | None = None,
) -> Summary:
    """Import every article of the file at `path`; UnreadableFile if none can be read.
    `on_progress(done, total)` is awaited after each article (the desk's progress bar)."""
    principal = await actions.import_principal(pool, username)
    images = ImageStore(pool, principal, path.parent)
    images.images_from = images_from
    # In a thread: parsing a large export must not hold up the service it may run in.
    records = await asyncio.to_thread(read_records, path, file_format, images.summary)
    importer = Importer(pool, principal, images)
    await importer.start()
    if on_progress is not None:
        await on_progress(0, len(records))
    for done, item in enumerate(progress(records, out), start=1):
        await importer.take(item)
        if on_progress is not None and done < len(records):
            await on_progress(done, len(records))
    await importer.flush()
    if on_progress is not None:
        await on_progress(len(records), len(records))
    return importer.summary


def summary_lines(summary: Summary) -> Iterator[str]:
    drafts = f" (trong đó {summary.drafts} bản nháp)" if summary.drafts else ""
    yield f"Đã nhập: {summary.imported}{drafts}"
    yield f"Bỏ qua (đã nhập trước đó): {summary.skipped}"
    yield f"Từ chối: {len(summary.refused)}"
    for refusal in summary.refused:
        yield f"  dòng {refusal.line}: {refusal.reason}"
    yield f"Ảnh đã lưu: {summary.images_stored}"
    if summary.images_left_out:
        yield f"Ảnh bỏ qua: {len(summary.images_left_out)}"
        for image in summary.images_left_out:
            yield f"  dòng {image.line}: {image.reference}: {image.reason}"
    if summary.other_wordpress_items:
        yield f"Mục WordPress không phải bài viết (trang, menu...): {summary.other_wordpress_items}"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m services.articles.import_articles",
        description="Nhập bài viết từ trang cũ (JSON Lines hoặc tệp xuất WordPress).",
    )
    parser.add_argument("file", type=Path)
    parser.add_argument("--format", choices=FORMATS, help="mặc định: theo đuôi tệp")
    parser.add_argument("--images-from", type=Path, help="thư mục chứa ảnh của trang cũ")
    parser.add_argument(
        "--as", dest="username", help="tài khoản biên tập hoặc quản trị (mặc định: quản trị đầu)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        dsn = database_url("articles")
        summary = asyncio.run(
            run_import(
                dsn,
                args.file,
                args.format or guess_format(args.file),
                args.images_from,
                args.username,
            )
        )
    except (UnreadableFile, ConfigError) as exc:
        print(f"Lỗi: {exc}", file=sys.stderr)
        return 1
    except domain.UserNotFoundError:
        print("Lỗi: không có tài khoản biên tập hoặc quản trị để nhập bài.", file=sys.stderr)
        return 1
    for line in summary_lines(summary):
        print(line)
    return 0 if summary.read_anything else 1


if __name__ == "__main__":
    sys.exit(main())
