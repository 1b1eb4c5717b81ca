"""Benchmark: articles per second through the import command (not run in CI).

    .venv/bin/python -m bench.import_articles [--articles 10000] [--with-images 40]

Makes a fresh database on the machine's Postgres (the articles migrations and an admin),
writes a JSON Lines file of `--articles` varied Vietnamese articles (12 categories, 40
tags, 1-6 paragraphs with a list now and then, dates over ten years, view counts; the
first `--with-images` with a lead image, one of the demo's four photos), imports it with
the command's own code and prints the time and the rate; then imports it again (all
skipped) and prints that too. Everything is removed afterwards. No broker is needed: the
events wait in the outbox, as they would for a relay.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.articles import actions
from services.articles.import_articles import SERVICE_DIR, import_file, summary_lines
from services.common import db
from tests.support.infra import create_database, drop_database

DEMO_IMAGES = Path(__file__).resolve().parents[1] / "services" / "demo" / "images"
CATEGORIES = (
    "Tình hình hoạt động", "Tin tức - Sự kiện", "Nông thôn mới", "Thi đua khen thưởng",
    "Văn hóa - Xã hội", "Giáo dục", "Y tế", "Kinh tế", "An ninh - Quốc phòng",
    "Hội Nông dân", "Đoàn Thanh niên", "Hội Phụ nữ",
)  # fmt: skip
SUBJECTS = (
    "Hội nghị", "Lễ ký kết", "Lớp tập huấn", "Chương trình", "Đoàn công tác", "Hội thi",
    "Buổi gặp mặt", "Đợt ra quân", "Phong trào", "Mô hình",
)  # fmt: skip
ACTIONS = (
    "tổng kết công tác", "triển khai kế hoạch", "sơ kết sáu tháng", "phát động thi đua",
    "trao học bổng", "hỗ trợ hộ nghèo", "xây dựng nông thôn mới", "bảo vệ môi trường",
    "chăm sóc sức khỏe", "phòng chống thiên tai",
)  # fmt: skip
PLACES = (
    "phường An Hòa", "xã Mỹ Khánh", "quận Ninh Kiều", "huyện Phong Điền", "phường Cái Khế",
    "xã Trường Long", "quận Bình Thủy", "huyện Cờ Đỏ", "phường Hưng Lợi", "xã Nhơn Ái",
)  # fmt: skip
SENTENCES = (
    "Tham dự có đại diện lãnh đạo các ban, ngành, đoàn thể và đông đảo hội viên.",
    "Các đơn vị đã thống nhất mục tiêu và những nhiệm vụ trọng tâm trong năm.",
    "Kết quả cho thấy nhiều chỉ tiêu đạt và vượt so với kế hoạch đề ra.",
    "Dịp này, ban tổ chức trao giấy khen cho các tập thể và cá nhân tiêu biểu.",
    "Hội nghị cũng chỉ ra những hạn chế cần khắc phục trong thời gian tới.",
    "Người dân địa phương hưởng ứng tích cực, góp công, góp sức cùng chính quyền.",
    "Chương trình nhằm nâng cao nhận thức và kỹ năng cho cán bộ cơ sở.",
    "Đồng chí chủ trì đề nghị các đơn vị tiếp tục đổi mới nội dung, phương thức hoạt động.",
)
TAGS = tuple(
    f"{a} {p}" for a in ("Thi đua", "Tập huấn", "Khen thưởng", "Nông thôn mới") for p in PLACES
)
AUTHORS = ("Hồng Tươi", "Minh Khoa", "Thanh Hà", "Quốc Bảo", "Ngọc Lan", "Văn Sơn")
UNITS = ("VP HND", "Ban Tuyên giáo", "Thành đoàn", "Hội LHPN", "UBMTTQ")


def article(number: int, rng: random.Random, image: str | None) -> dict[str, Any]:
    title = (
        f"{rng.choice(SUBJECTS)} {rng.choice(ACTIONS)} tại {rng.choice(PLACES)}"
        f" năm {2010 + number % 15} (số {number})"
    )
    paragraphs = [
        "<p>" + " ".join(rng.sample(SENTENCES, rng.randint(2, 5))) + "</p>"
        for _ in range(rng.randint(1, 6))
    ]
    if number % 4 == 0:
        items = "".join(f"<li>{s}</li>" for s in rng.sample(SENTENCES, 3))
        paragraphs.insert(1, f"<ol>{items}</ol>")
    published = datetime(2015, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 5_000_000))
    record: dict[str, Any] = {
        "external_id": f"bench-{number}",
        "title": title,
        "category": rng.choice(CATEGORIES),
        "body_html": "".join(paragraphs),
        "summary": rng.choice(SENTENCES),
        "author": rng.choice(AUTHORS),
        "unit": rng.choice(UNITS),
        "published_at": published.isoformat(),
        "updated_at": (published + timedelta(hours=rng.randint(0, 72))).isoformat(),
        "tags": rng.sample(TAGS, rng.randint(0, 3)),
        "views": rng.randint(0, 5000),
    }
    if image:
        record.update(image=image, caption="Ảnh tư liệu.")
    return record


def write_file(directory: Path, articles: int, with_images: int) -> Path:
    rng = random.Random(8)
    images = sorted(DEMO_IMAGES.glob("*.jpg"))
    for image in images:
        (directory / image.name).write_bytes(image.read_bytes())
    path = directory / "bai-viet.jsonl"
    with path.open("w") as out:
        for n in range(1, articles + 1):
            image = images[n % len(images)].name if n <= with_images else None
            out.write(json.dumps(article(n, rng, image), ensure_ascii=False) + "\n")
    return path


async def bench(dsn: str, path: Path) -> None:
    await db.migrate(dsn, SERVICE_DIR)
    pool = await db.create_pool(dsn, max_size=2)
    try:
        async with pool.acquire() as conn:
            await actions.create_user(conn, "quantri", "mat-khau-du-dai-2026", roles=["admin"])
        lines = sum(1 for _ in path.open())
        for run in ("first", "again"):
            started = time.perf_counter()
            summary = await import_file(pool, path, "jsonl", out=io.StringIO())
            seconds = time.perf_counter() - started
            print(f"{run}: {lines} lines in {seconds:.1f} s, {lines / seconds:.0f} articles/s")
            print("  " + " | ".join(summary_lines(summary)))
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--with-images", type=int, default=40)
    args = parser.parse_args()
    database = create_database()
    try:
        with tempfile.TemporaryDirectory() as directory:
            path = write_file(Path(directory), args.articles, args.with_images)
            print(f"{path.stat().st_size / 2**20:.1f} MB of JSON Lines")
            asyncio.run(bench(database.dsn("articles"), path))
    finally:
        drop_database(database)


if __name__ == "__main__":
    main()
