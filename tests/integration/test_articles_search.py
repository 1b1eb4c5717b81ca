"""The public search (/tim-kiem) as a reader uses it, against real Postgres: articles are
published through the API, so their folded search text is what the service stores."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pytest

from services.articles import domain
from tests.support.articles import Site, running_site


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[Site]:
    async with running_site() as harness:
        yield harness


def tag() -> str:
    """A word no other article holds (letters only, so never split)."""
    return "x" + "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:9])


async def search(site: Site, query: str, extra: str = "") -> str:
    response = await site.client.get(f"/tim-kiem?q={quote(query)}{extra}")
    assert response.status == 200
    return await response.text()


def titles(html: str) -> list[str]:
    """The result titles in order, marks taken out."""
    found = re.findall(r'<a class="article-link" href="[^"]+">(.*?)</a>', html, flags=re.S)
    return [re.sub(r"</?mark>", "", t) for t in found]


async def publish(site: Site, when: str | None = None, **fields: Any) -> dict[str, Any]:
    draft = await site.draft(**fields)
    body = {"published_at": when} if when else None
    response = await site.client.post(
        f"/api/v1/articles/{draft['id']}/publish", json=body, headers=site.auth("editor")
    )
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def test_diacritics_case_d_and_unicode_form_make_no_difference(site: Site) -> None:
    word = tag()
    await publish(
        site,
        title=f"Ký kết giao ước thi đua năm 2017 {word}",
        body_html="<p>Đoàn Thanh niên Cộng sản Hồ Chí Minh tham gia.</p>",
    )
    nfd = unicodedata.normalize("NFD", "giao ước")
    for query in ("giao uoc thi dua", "GIAO ƯỚC", "giao ước", nfd, "doan thanh nien", "ĐOÀN"):
        html = await search(site, f"{query} {word}")
        assert titles(html) == [f"Ký kết giao ước thi đua năm 2017 {word}"], query
        assert "Tìm thấy 1 bản tin" in html
    assert titles(await search(site, f"khong co dau {word}")) == []


async def test_title_matches_come_before_body_matches(site: Site) -> None:
    word = tag()
    await publish(site, "2024-03-01T08:00:00+07:00", title=f"Mô hình hoa sen {word}")
    await publish(  # newer, but the words are only in its text
        site,
        "2024-03-05T08:00:00+07:00",
        title=f"Tin khác {tag()}",
        body_html=f"<p>Người dân trồng hoa sen {word} trên ruộng.</p>",
    )
    found = titles(await search(site, f"hoa sen {word}"))
    assert found[0] == f"Mô hình hoa sen {word}" and len(found) == 2


async def test_more_words_come_before_fewer(site: Site) -> None:
    word = tag()
    await publish(
        site,
        "2024-01-01T08:00:00+07:00",
        title=f"Đủ bốn từ {word}",
        body_html="<p>Xuất khẩu lúa gạo tăng mạnh.</p>",
    )
    await publish(  # newer, three of the four words
        site,
        "2024-02-01T08:00:00+07:00",
        title=f"Ba từ {word}",
        body_html="<p>Lúa gạo được mùa.</p>",
    )
    await publish(  # two of four: not a result
        site, "2024-02-02T08:00:00+07:00", title=f"Hai từ {word}", body_html="<p>Lúa chín.</p>"
    )
    assert titles(await search(site, f"{word} lua gao xuat")) == [
        f"Đủ bốn từ {word}",
        f"Ba từ {word}",
    ]


async def test_the_diacritics_the_reader_typed_rank_first(site: Site) -> None:
    word = tag()
    await publish(site, "2024-04-01T08:00:00+07:00", title=f"Con đường mới {word}")
    await publish(site, "2024-04-02T08:00:00+07:00", title=f"Bình Dương mới {word}")
    assert titles(await search(site, f"đường {word}")) == [
        f"Con đường mới {word}",
        f"Bình Dương mới {word}",
    ]
    # Stored in NFD (as some editors' systems write it), it is still the word typed.
    decomposed = unicodedata.normalize("NFD", f"Đường làng {word}")
    await publish(site, "2024-04-03T08:00:00+07:00", title=decomposed)
    assert [
        unicodedata.normalize("NFC", t) for t in titles(await search(site, f"đường {word}"))
    ] == [
        f"Đường làng {word}",
        f"Con đường mới {word}",
        f"Bình Dương mới {word}",
    ]
    assert titles(await search(site, f"dương {word}"))[0] == f"Bình Dương mới {word}"
    # Typed without diacritics: all, newest first.
    assert len(titles(await search(site, f"duong {word}"))) == 3
    assert titles(await search(site, f"duong {word}"))[1:] == [
        f"Bình Dương mới {word}",
        f"Con đường mới {word}",
    ]


async def test_short_words_alone_search_titles_only(site: Site) -> None:
    word = tag()
    await publish(site, title=f"Về Hà Tĩnh {word}")
    await publish(site, title=f"Chuyến công tác {word}", body_html="<p>Đi Hà Tĩnh.</p>")
    # "về hà": short words only select by title; with a longer word they only rank.
    assert f"Về Hà Tĩnh {word}" in titles(await search(site, "về hà"))
    assert f"Chuyến công tác {word}" not in titles(await search(site, "về hà"))
    assert titles(await search(site, f"hà {word}")) == [
        f"Về Hà Tĩnh {word}",
        f"Chuyến công tác {word}",
    ]


async def test_matches_are_marked_in_escaped_snippets(site: Site) -> None:
    word = tag()
    await publish(
        site,
        title=f"Kết quả <b>in đậm</b> {word}",
        body_html=f"<p>{'Mở đầu dài. ' * 40}Giữa bài có từ {word} &amp; &lt;script&gt;.</p>",
    )
    html = await search(site, word)
    assert f"<mark>{word}</mark>" in html
    assert "Kết quả &lt;b&gt;in đậm&lt;/b&gt;" in html
    assert "&lt;script&gt;" in html and "<script>." not in html
    assert "… " in html  # the passage starts near the match, not at the text's start
    other = tag()
    await publish(site, title=f"Chỉ tóm tắt {tag()}", summary=f"Tóm tắt có {other}.")
    passage = re.search(r'<p class="summary snippet">(.*?)</p>', await search(site, other))
    assert passage is not None and f"<mark>{other}</mark>" in passage.group(1)
    hostile = await search(site, '<script>alert("x")</script>')
    assert "<script>alert" not in hostile and "&lt;script&gt;alert(&#34;x&#34;)" in hostile


async def test_nothing_found_gives_a_helpful_page(site: Site) -> None:
    category = await site.category("Nông nghiệp")
    html = await search(site, f"{tag()} khongcoday")
    assert "Không tìm thấy bản tin nào" in html
    assert "kiểm tra lại chính tả" in html and "dùng ít từ hơn" in html
    assert f'href="/chuyen-muc/{category["slug"]}"' in html
    assert "Nhập từ khóa" in await search(site, "")
    assert "Không tìm thấy bản tin nào" in await search(site, "!!! ...")  # no word in it


async def test_filters_by_category_with_its_children_and_by_days(site: Site) -> None:
    word = tag()
    parent = await site.category()
    child = await site.client.post(
        "/api/v1/categories",
        json={"name": f"Con {tag()}", "parent_id": parent["id"]},
        headers=site.auth("editor"),
    )
    other = await site.category()
    in_child = (await child.json())["id"]
    await publish(
        site, "2023-05-10T23:30:00+07:00", title=f"Trong con {word}", category_id=in_child
    )
    await publish(site, "2023-06-01T08:00:00+07:00", title=f"Ngoài {word}", category_id=other["id"])
    by_parent = await search(site, word, f"&chuyen-muc={parent['slug']}")
    assert titles(by_parent) == [f"Trong con {word}"]
    assert f'<option value="{parent["slug"]}" selected>' in by_parent
    # Days are Vietnam's calendar days: 23:30 on 10/05 is on the 10th.
    assert titles(await search(site, word, "&tu=2023-05-10&den=2023-05-10")) == [
        f"Trong con {word}"
    ]
    assert titles(await search(site, word, "&tu=2023-05-11")) == [f"Ngoài {word}"]
    assert titles(await search(site, word, "&den=2023-05-31")) == [f"Trong con {word}"]
    swapped = "&tu=2023-05-31&den=2023-05-01"  # the earlier day first, whichever field
    assert titles(await search(site, word, swapped)) == [f"Trong con {word}"]
    assert titles(await search(site, word, "&tu=2023-06-01&den=2023-05-10")) == [
        f"Ngoài {word}",
        f"Trong con {word}",
    ]
    unknown = await search(site, word, "&chuyen-muc=khong-co")
    assert "Không có chuyên mục này" in unknown and len(titles(unknown)) == 2
    bad = await search(site, word, "&tu=hom-qua")
    assert "Từ ngày không hợp lệ" in bad and len(titles(bad)) == 2
    empty = await search(site, word, "&tu=2030-01-01")
    assert "với bộ lọc đã chọn" in empty and f'href="/tim-kiem?q={word}"' in empty


async def test_results_are_paginated_with_rel_links(site: Site) -> None:
    word = tag()
    for n in range(16):
        await publish(site, f"2022-01-{n + 1:02d}T08:00:00+07:00", title=f"Kết quả {n:02d} {word}")
    html = await search(site, word)
    assert "Tìm thấy 16 bản tin" in html and "Trang 1/2" in html
    assert f'rel="next" href="/tim-kiem?q={word}&amp;trang=2"' in html
    assert f'<link rel="next" href="/tim-kiem?q={word}&amp;trang=2">' in html
    second = await search(site, word, "&trang=2")
    assert titles(second) == [f"Kết quả 00 {word}"] and 'rel="prev"' in second
    beyond = await search(site, word, "&trang=5")
    assert "Trang này không còn kết quả" in beyond and f'href="/tim-kiem?q={word}"' in beyond


async def test_only_published_articles_and_edits_are_found(site: Site) -> None:
    word, old = tag(), tag()
    await site.draft(title=f"Bản nháp {word}")
    article = await publish(site, title=f"Tên cũ {old} {word}")
    assert titles(await search(site, word)) == [f"Tên cũ {old} {word}"]
    response = await site.client.patch(
        f"/api/v1/articles/{article['id']}",
        json={"title": f"Tên mới đổi {word}", "version": article["version"]},
        headers=site.auth("editor"),
    )
    assert response.status == 200, await response.text()
    assert titles(await search(site, f"ten moi {word}")) == [f"Tên mới đổi {word}"]
    assert titles(await search(site, f"{old} {word}")) == []
    response = await site.client.post(
        f"/api/v1/articles/{article['id']}/unpublish",
        json={"reason": "Gỡ để sửa."},
        headers=site.auth("editor"),
    )
    assert response.status == 200, await response.text()
    assert titles(await search(site, word)) == []


async def test_the_migration_folds_as_the_domain_does(site: Site) -> None:
    """Rows saved before search columns existed were folded by SQL (015_search.sql): the
    same words as domain.fold_words, for every Vietnamese letter in NFC and NFD."""
    lower = (
        "aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệghiìíỉĩịklmnoòóỏõọôồốổỗộơờớởỡợpqrstuùúủũụưừứửữựvxyỳýỷỹỵ"
    )
    text = f"{lower} {lower.upper()} Giao ước, thi-đua! 1.000 hộ_nghèo (2017)"
    async with site.pool.acquire() as conn:
        for form in ("NFC", "NFD"):
            given = unicodedata.normalize(form, text)
            folded = await conn.fetchval(
                "SELECT btrim(regexp_replace(lower(f_unaccent($1)), '[^[:alnum:]]+', ' ', 'g'))",
                given,
            )
            assert folded == domain.fold_words(given), form
