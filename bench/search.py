"""Benchmark: the public search (/tim-kiem) on 100,000 published articles (not run in CI).

    .venv/bin/python -m bench.search [--articles 100000] [--queries 300] [--keep]

Makes a fresh database on the machine's Postgres (the articles migrations, a user, 12
categories) and fills it with COPY (the GIN indexes built after): varied Vietnamese
articles written from a small corpus (about 300 words drawn with a Zipf-like skew, so some
words are in most articles and most in few; titles of 8-14 words, bodies of 12-63
sentences, about 2,600 characters), their search columns folded by `domain.fold_words` as
the service folds them. Then it runs `--queries` different three-word queries (three
neighbouring words of a made-up article, half typed without diacritics, a quarter in
capitals) one at a time through what the page does (`store.search` and the snippets), and
prints p50/p95/p99 and EXPLAIN ANALYZE (rows read) of the first and the slowest query.
`--keep` leaves the database for a look (its name is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

import asyncpg

from services.articles import actions, domain, pages, store
from services.articles.import_articles import SERVICE_DIR
from services.common import db
from tests.support.infra import create_database, drop_database

# Words of a provincial news site, most frequent first (the order sets their weight).
WORDS = """
của và các có là được trong cho những người năm với công tác đã một này tại đến về
không thực hiện đơn vị cán bộ hội viên nhân dân phát triển kinh tế xã hội địa phương
chương trình kế hoạch triển khai tổ chức hoạt động nhiệm vụ kết quả tỉnh thành phố
huyện xã phường lãnh đạo đồng chí ban ngành đoàn thể nông thôn mới thi đua khen thưởng
giao ước hội nghị tổng kết sơ kết phát động phong trào mô hình hỗ trợ hộ nghèo học bổng
bảo vệ môi trường chăm sóc sức khỏe phòng chống thiên tai dịch bệnh giáo dục đào tạo
y tế văn hóa thể thao du lịch an ninh quốc phòng trật tự an toàn giao thông đường bộ
đường thủy cầu cống kênh mương sông nước sạch điện chiếu sáng nhà ở đất đai quy hoạch
xây dựng công trình vốn ngân sách đầu tư doanh nghiệp hợp tác xã sản xuất nông nghiệp
lúa gạo trái cây thủy sản chăn nuôi thị trường giá cả tiêu thụ xuất khẩu chế biến
thanh niên phụ nữ cựu chiến binh nông dân công đoàn mặt trận tổ quốc đảng bộ chi bộ
đảng viên nghị quyết chỉ thị quyết định văn bản thủ tục hành chính cải cách dịch vụ
công trực tuyến chuyển đổi số ứng dụng công nghệ thông tin dữ liệu hồ sơ giấy tờ
người cao tuổi trẻ em học sinh sinh viên giáo viên bác sĩ bệnh viện trạm trường học
lớp tập huấn bồi dưỡng kỹ năng kiến thức nhận thức tuyên truyền vận động hưởng ứng
tích cực hiệu quả thiết thực nổi bật tiêu biểu xuất sắc mạnh mẽ bền vững toàn diện
dương đường dưỡng duyên dân dần dẫn dành đầy đủ đúng hạn kịp thời nhanh chóng
Cần Thơ Ninh Kiều Bình Thủy Cái Răng Ô Môn Thốt Nốt Phong Điền Cờ Đỏ Vĩnh Thạnh
An Hòa Mỹ Khánh Trường Long Nhơn Ái Hưng Lợi Cái Khế Tân An Xuân Khánh Thới Lai
tháng quý sáu chín mười hai ba bốn năm bảy tám lần đợt buổi ngày tuần sáng chiều
""".split()
CATEGORY_NAMES = (
    "Tình hình hoạt động", "Tin tức - Sự kiện", "Nông thôn mới", "Thi đua khen thưởng",
    "Văn hóa - Xã hội", "Giáo dục", "Y tế", "Kinh tế", "An ninh - Quốc phòng",
    "Hội Nông dân", "Đoàn Thanh niên", "Hội Phụ nữ",
)  # fmt: skip
COLUMNS = (
    "slug", "title", "summary", "body_html", "body_text", "byline", "category_id",
    "author_id", "status", "published_at", "text_updated_at", "search_title", "search_body",
)  # fmt: skip
WEIGHTS = [1 / (rank + 10) for rank in range(len(WORDS))]


def sentence(rng: random.Random, low: int, high: int) -> str:
    words = rng.choices(WORDS, WEIGHTS, k=rng.randint(low, high))
    return " ".join(words).capitalize() + "."


def article_row(number: int, rng: random.Random, categories: list[int], author: int) -> tuple:
    title = sentence(rng, 8, 14).rstrip(".")
    summary = sentence(rng, 15, 30)
    paragraphs = [
        " ".join(sentence(rng, 12, 24) for _ in range(rng.randint(3, 7)))
        for _ in range(rng.randint(4, 9))
    ]
    body_text = " ".join(paragraphs)
    byline = "Hồng Tươi (VP HND)"
    published = datetime(2015, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 5_000_000))
    return (
        f"bai-{number}",
        title,
        summary,
        "".join(f"<p>{p}</p>" for p in paragraphs),
        body_text,
        byline,
        rng.choice(categories),
        author,
        "published",
        published,
        published,
        domain.search_title(title),
        domain.search_body(summary, byline, body_text),
    )


async def fill(conn: asyncpg.Connection, articles: int) -> None:
    user = await actions.create_user(conn, "bientap", "mat-khau-du-dai-2026", roles=["editor"])
    categories = [
        (await store.create_category(conn, name, domain.make_slug(name, "cm"), None, n)).id
        for n, name in enumerate(CATEGORY_NAMES)
    ]
    # The text indexes are built once after the copy, as for any bulk load, with the
    # migrations' own definitions.
    indexes = await conn.fetch(
        """SELECT indexname, indexdef FROM pg_indexes
            WHERE tablename = 'articles' AND indexdef LIKE '%USING gin%'"""
    )
    for index in indexes:
        await conn.execute(f'DROP INDEX "{index["indexname"]}"')
    rng = random.Random(12)
    batch = 5_000
    for first in range(0, articles, batch):
        rows = [
            article_row(n, rng, categories, user.id)
            for n in range(first + 1, min(articles, first + batch) + 1)
        ]
        await conn.copy_records_to_table("articles", records=rows, columns=COLUMNS)
    for index in indexes:
        await conn.execute(index["indexdef"])
    await conn.execute("VACUUM ANALYZE articles")


def queries(count: int, rng: random.Random) -> list[str]:
    """Three neighbouring words of a made-up article: what a reader remembers of one."""
    made: list[str] = []
    while len(made) < count:
        words = sentence(rng, 12, 12).rstrip(".").lower().split()
        start = rng.randrange(len(words) - 3)
        query = " ".join(words[start : start + 3])
        style = rng.random()
        if style < 0.5:
            query = domain.fold(query)
        elif style < 0.75:
            query = query.upper()
        if query not in made:
            made.append(query)
    return made


async def search_once(conn: asyncpg.Connection, query: str) -> int:
    """What the page does with a query, without the HTML: candidates, order, snippets."""
    terms = domain.parse_query(query)
    plan = domain.search_plan(terms)
    assert plan is not None
    found = await store.search(
        conn,
        plan,
        store.SearchFilters(),
        titles_only=domain.searches_titles_only(terms),
        page=1,
        per_page=15,
    )
    pages._search_results(found, terms)  # the titles and passages, marked
    return found.total


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def bench(dsn: str, articles: int, count: int) -> None:
    await db.migrate(dsn, SERVICE_DIR)
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        await fill(conn, articles)
        print(f"filled {articles} articles in {time.perf_counter() - started:.0f} s")
        rng = random.Random(3)
        asked = queries(count, rng)
        for query in asked[:20]:  # warm the caches
            await search_once(conn, query)
        timings: list[float] = []
        totals: list[int] = []
        for query in asked:
            started = time.perf_counter()
            totals.append(await search_once(conn, query))
            timings.append((time.perf_counter() - started) * 1000)
        print(
            f"{len(asked)} three-word queries: p50 {percentile(timings, 0.5):.1f} ms,"
            f" p95 {percentile(timings, 0.95):.1f} ms, p99 {percentile(timings, 0.99):.1f} ms,"
            f" max {max(timings):.1f} ms; articles found per query: median"
            f" {statistics.median(totals):.0f}, max {max(totals)}"
        )
        slowest = asked[timings.index(max(timings))]
        for query in (asked[0], slowest):
            print(f"\nEXPLAIN ANALYZE, query {query!r}:")
            plan = domain.search_plan(domain.parse_query(query))
            assert plan is not None
            for line in await store.explain_search(conn, plan):
                print("  " + line)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="leave the database")
    args = parser.parse_args()
    database = create_database()
    print(f"database {database.name}")
    try:
        asyncio.run(bench(database.dsn("articles"), args.articles, args.queries))
    finally:
        if not args.keep:
            drop_database(database)


if __name__ == "__main__":
    main()
