"""Image uploads on the real Postgres and RabbitMQ: decoded by Pillow before anything is
stored, refused above the byte and pixel limits, cleaned of EXIF and GPS, turned upright,
resized once into variants that are served with a year's cache."""

from __future__ import annotations

import io
import resource
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from PIL import ExifTags, Image

from services.articles import actions, domain
from tests.support import pictures
from tests.support.articles import Site, running_site


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[Site]:
    async with running_site() as harness:
        yield harness


def _file(data: bytes, filename: str = "anh.jpg", content_type: str = "image/jpeg") -> Any:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=filename, content_type=content_type)
    return form


async def upload(site: Site, data: bytes) -> aiohttp.ClientResponse:
    return await site.client.post("/api/v1/images", data=_file(data), headers=site.auth("editor"))


async def stored(site: Site) -> tuple[int, int]:
    """How many images and variants there are: a refusal must leave both as they were."""
    images = await site.pool.fetchval("SELECT count(*) FROM images")
    variants = await site.pool.fetchval("SELECT count(*) FROM image_variants")
    return int(images), int(variants)


async def fetch(site: Site, url: str) -> tuple[aiohttp.ClientResponse, bytes]:
    response = await site.client.get(url)
    assert response.status == 200, url
    return response, await response.read()


def opened(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


def has_no_metadata(data: bytes) -> bool:
    picture = opened(data)
    return not picture.getexif() and "exif" not in picture.info and "xmp" not in picture.info


async def test_a_12_mb_phone_photo_is_accepted_and_resized(site: Site) -> None:
    photo = pictures.noise_photo()
    assert len(photo) >= 12 * 1000 * 1000  # as large as a phone's 12 MP photo gets
    started = time.perf_counter()
    response = await upload(site, photo)
    took = time.perf_counter() - started
    assert response.status == 201, await response.text()
    created = await response.json()
    assert (created["width"], created["height"]) == (4000, 3000)
    sizes = {(v["name"], v["content_type"]): (v["width"], v["height"]) for v in created["variants"]}
    assert sizes == {
        ("lead", "image/jpeg"): (1200, 900),
        ("lead", "image/webp"): (1200, 900),
        ("list", "image/jpeg"): (480, 360),
        ("list", "image/webp"): (480, 360),
        ("share", "image/jpeg"): (1200, 630),
        ("share", "image/webp"): (1200, 630),
    }
    for variant in created["variants"]:
        served, body = await fetch(site, variant["url"])
        assert served.content_type == variant["content_type"]
        assert opened(body).size == (variant["width"], variant["height"])
        assert len(body) == variant["size"]
    assert took < 30, f"the upload took {took:.1f} s"


async def test_exif_and_gps_are_stripped(site: Site) -> None:
    photo = pictures.phone_jpeg(pictures.halves())
    assert opened(photo).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the input has them
    created = await (await upload(site, photo)).json()
    for url in [created["url"], *(v["url"] for v in created["variants"])]:
        _, body = await fetch(site, url)
        assert has_no_metadata(body), url
        assert b"PhoneMaker" not in body


async def test_the_orientation_is_applied(site: Site) -> None:
    # Orientation 6: the camera was held turned; shown upright, the left (red) half of
    # the stored pixels is at the top.
    photo = pictures.phone_jpeg(pictures.halves(60, 40), orientation=6)
    created = await (await upload(site, photo)).json()
    assert (created["width"], created["height"]) == (40, 60)
    for url in [created["url"], *(v["url"] for v in created["variants"] if v["name"] != "share")]:
        _, body = await fetch(site, url)
        upright = opened(body).convert("RGB")
        assert upright.size == (40, 60), url
        top, bottom = upright.getpixel((20, 5)), upright.getpixel((20, 55))
        assert isinstance(top, tuple) and isinstance(bottom, tuple)
        assert top[0] > 150 and top[2] < 100, (url, top)  # red
        assert bottom[2] > 150 and bottom[0] < 100, (url, bottom)  # blue


@pytest.mark.parametrize(
    ("sent", "kept_as", "variant_types", "frames"),
    [
        ("image/jpeg", "image/jpeg", {"image/jpeg", "image/webp"}, 1),
        ("image/png", "image/png", {"image/png", "image/webp"}, 1),
        ("image/webp", "image/webp", {"image/webp"}, 1),
        # An animated GIF keeps its frames; its variants are its first frame, as PNG.
        ("image/gif", "image/gif", {"image/png", "image/webp"}, 3),
        # A phone's HEIC is kept as JPEG, which every browser shows.
        ("image/heic", "image/jpeg", {"image/jpeg", "image/webp"}, 1),
    ],
)
async def test_each_format_decodes_and_gets_its_variants(
    site: Site, sent: str, kept_as: str, variant_types: set[str], frames: int
) -> None:
    response = await upload(site, pictures.formats()[sent])
    assert response.status == 201, await response.text()
    created = await response.json()
    assert created["content_type"] == kept_as
    served, body = await fetch(site, created["url"])
    assert served.content_type == kept_as
    assert getattr(opened(body), "n_frames", 1) == frames
    names = {(v["name"], v["content_type"]) for v in created["variants"]}
    assert names == {(n, t) for n in domain.VARIANT_NAMES for t in variant_types}


async def test_a_small_picture_is_never_blown_up(site: Site) -> None:
    created = await (await upload(site, pictures.encode(pictures.halves(300, 200), "PNG"))).json()
    sizes = {v["name"]: (v["width"], v["height"]) for v in created["variants"]}
    # The share card is the centred 1200:630 box of the picture, at the picture's scale.
    assert sizes == {"lead": (300, 200), "list": (300, 200), "share": (300, 158)}


async def test_a_decompression_bomb_is_refused_from_its_header(site: Site) -> None:
    bomb = pictures.png_bomb(30000, 30000)
    assert len(bomb) < 1024
    before = await stored(site)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    response = await upload(site, bomb)
    assert response.status == 422, await response.text()
    body = await response.json()
    assert body["code"] == "image_too_large_in_pixels"
    assert [e["field"] for e in body["errors"]] == ["file"]
    # Decoded, it would have taken 2.7 GB; the process' peak did not move by 100 MB.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 100 * 1024
    assert await stored(site) == before


async def test_a_picture_just_over_the_pixel_limit_is_refused(site: Site) -> None:
    # 7100 x 7100 = 50.4 MP: under Pillow's own bomb error (twice the limit), over ours.
    before = await stored(site)
    response = await upload(site, pictures.png_bomb(7100, 7100))
    assert response.status == 422
    assert (await response.json())["code"] == "image_too_large_in_pixels"
    assert await stored(site) == before


def _broken() -> dict[str, bytes]:
    jpeg = pictures.encode(pictures.halves(400, 300), "JPEG")
    return {
        "truncated-jpeg": jpeg[: len(jpeg) // 2],
        "png-signature-then-noise": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8,
        "gif-header-then-noise": b"GIF89a" + bytes(range(255, 0, -1)) * 8,
        "webp-header-then-noise": b"RIFF\x00\x10\x00\x00WEBPVP8 " + b"\x01" * 2000,
        "heic-header-then-noise": b"\x00\x00\x00\x18ftypheic" + b"\x02" * 2000,
    }


@pytest.mark.parametrize("name", list(_broken()))
async def test_a_broken_image_is_refused_and_nothing_is_stored(site: Site, name: str) -> None:
    before = await stored(site)
    response = await upload(site, _broken()[name])
    assert response.status == 422, await response.text()
    body = await response.json()
    assert body["code"] == "image_unreadable"
    assert [e["field"] for e in body["errors"]] == ["file"]
    assert await stored(site) == before


async def test_a_file_over_the_byte_limit_is_a_413(site: Site) -> None:
    before = await stored(site)
    too_large = b"\xff\xd8\xff" + b"\0" * domain.IMAGE_MAX_BYTES
    response = await upload(site, too_large)
    assert response.status == 413
    assert (await response.json())["code"] == "body_too_large"
    with pytest.raises(domain.ImageTooLargeError):
        await actions.add_image(site.pool, too_large, None)
    assert await stored(site) == before


async def test_variants_are_served_for_a_year_and_revalidated(site: Site) -> None:
    created = await (await upload(site, pictures.encode(pictures.halves(), "JPEG"))).json()
    for url in (created["url"], f"{created['url']}/lead.webp", f"{created['url']}/list.jpg"):
        served, _ = await fetch(site, url)
        assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        again = await site.client.get(url, headers={"If-None-Match": served.headers["ETag"]})
        assert again.status == 304, url
    # A JPEG has no PNG variant; an unknown image has none at all.
    assert (await site.client.get(f"{created['url']}/lead.png")).status == 404
    assert (await site.client.get("/anh/987654/lead.jpg")).status == 404
    assert (await site.client.get(f"{created['url']}/poster.jpg")).status == 404


async def test_add_image_stores_bytes_without_an_upload(site: Site) -> None:
    # How the import brings an image in: bytes, no user.
    image = await actions.add_image(site.pool, pictures.phone_jpeg(pictures.halves()), None)
    assert image.url == f"/anh/{image.id}"
    assert {v.name for v in image.variants} == set(domain.VARIANT_NAMES)
    _, body = await fetch(site, image.url)
    assert has_no_metadata(body)


# --- the pages --------------------------------------------------------------------------


async def _published_with_picture(site: Site, **fields: Any) -> tuple[dict[str, Any], int]:
    photo = pictures.encode(pictures.halves(2000, 1500), "JPEG")
    image = await (await upload(site, photo)).json()
    article = await site.published(image_id=image["id"], **fields)
    return article, image["id"]


async def test_the_article_page_gives_its_lead_image_srcset_size_and_alt(site: Site) -> None:
    article, image_id = await _published_with_picture(
        site,
        image_caption="Lãnh đạo ký giao ước thi đua.",
        image_alt="Hai người bắt tay trước bục phát biểu",
    )
    assert article["image_alt"] == "Hai người bắt tay trước bục phát biểu"
    html = await (await site.client.get(article["url"])).text()
    base = f"/anh/{image_id}"
    assert (
        f'<source type="image/webp" srcset="{base}/list.webp 480w, {base}/lead.webp 1200w" '
        'sizes="(max-width: 46rem) 100vw, 46rem">'
    ) in html
    assert (
        f'<img src="{base}/lead.jpg" srcset="{base}/list.jpg 480w, {base}/lead.jpg 1200w" '
        'sizes="(max-width: 46rem) 100vw, 46rem" width="1200" height="900" '
        'alt="Hai người bắt tay trước bục phát biểu">'
    ) in html
    assert "<figcaption>Lãnh đạo ký giao ước thi đua.</figcaption>" in html
    assert f'{base}/share.jpg">' in html  # og:image, the share card
    assert '<meta property="og:image:width" content="1200">' in html
    assert '<meta property="og:image:height" content="630">' in html


async def test_the_alt_text_defaults_to_the_caption(site: Site) -> None:
    article, _ = await _published_with_picture(site, image_caption="Toàn cảnh hội nghị.")
    assert article["image_alt"] == ""
    html = await (await site.client.get(article["url"])).text()
    assert 'height="900" alt="Toàn cảnh hội nghị.">' in html
    patched = await site.client.patch(
        f"/api/v1/articles/{article['id']}",
        json={"image_alt": "  Đại biểu   dự hội nghị "},
        headers=site.auth("editor"),
    )
    assert (await patched.json())["image_alt"] == "Đại biểu dự hội nghị"
    html = await (await site.client.get(article["url"])).text()
    assert 'height="900" alt="Đại biểu dự hội nghị">' in html


async def test_list_pages_show_the_small_variant_lazily_below_the_first_items(
    site: Site,
) -> None:
    category = await site.category()
    tag = f"the-anh-{category['id']}"
    published = [
        await _published_with_picture(
            site, category_id=category["id"], tags=[tag], title=f"Tin ảnh {n} của trang"
        )
        for n in range(3)
    ]
    newest_first = [image_id for _, image_id in reversed(published)]
    for path in (f"/chuyen-muc/{category['slug']}",
                 f"/the/{tag}", "/tim-kiem?q=tin+anh+cua+trang"):  # fmt: skip
        html = " ".join((await (await site.client.get(path)).text()).split())
        for position, image_id in enumerate(newest_first):
            lazy = ' loading="lazy"' if position >= 2 else ""
            expected = (
                f'<source type="image/webp" srcset="/anh/{image_id}/list.webp"> '
                f'<img src="/anh/{image_id}/list.jpg" width="480" height="360" alt=""{lazy}>'
            )
            assert expected in html, (path, position)
