"""Pillow's work on an uploaded image, with no I/O: decode it (the only proof that it is
an image), refuse it above the pixel limit before a pixel is decoded, apply its EXIF
orientation, drop its metadata (EXIF, GPS, XMP, comments), and encode the variants the
pages use. CPU-bound: actions.add_image runs `process` in a worker thread.

The cleaned original keeps the full size and, for an animated GIF or WebP, every frame;
the variants are still pictures made from the first frame. A HEIC photo (phones) is kept
as JPEG, which every browser shows.
"""

from __future__ import annotations

import io
import threading
import warnings
from dataclasses import dataclass
from typing import Any

import pillow_heif
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from services.articles import domain
from services.articles.domain import EncodedImage as Encoded

# Pillow's own guard, set to our limit: its DecompressionBombError (at twice the limit)
# backs up the explicit check in _open.
Image.MAX_IMAGE_PIXELS = domain.IMAGE_MAX_PIXELS
# Pillow warns between the limit and twice it; _open refuses those itself.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
# A truncated file is refused, never decoded half grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False
pillow_heif.register_heif_opener()

# Pillow's format for each type that domain.image_type reads from the first bytes: the
# decoder is chosen by that claim, never by guessing among every format Pillow knows.
PILLOW_FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
    "image/heic": "HEIF",
}
# The type a picture is kept in: its own, except HEIC (browsers do not show it).
KEPT_AS = {"image/heic": "image/jpeg"}
# The variants' type beside WebP: a GIF's still frame is better as PNG than re-quantised
# to 256 colours after resampling.
VARIANT_AS = {"image/gif": "image/png", "image/heic": "image/jpeg"}
SAVE_OPTIONS: dict[str, dict[str, Any]] = {
    "image/jpeg": {"format": "JPEG", "quality": 85, "optimize": True, "progressive": True},
    "image/png": {"format": "PNG", "compress_level": 6},
    "image/webp": {"format": "WEBP", "quality": 80, "method": 4},
    "image/gif": {"format": "GIF"},
}
# Decoding a 50 MP picture takes up to 200 MB: at most two at once per process.
_DECODING = threading.BoundedSemaphore(2)


@dataclass(frozen=True)
class Processed:
    original: Encoded
    variants: tuple[Encoded, ...]


def process(data: bytes) -> Processed:
    """The cleaned original and its variants. Refusals: ImageTooLargeError (bytes),
    UnsupportedImageError (first bytes), ImageTooManyPixelsError (from the header),
    BrokenImageError (does not decode)."""
    if len(data) > domain.IMAGE_MAX_BYTES:
        raise domain.ImageTooLargeError
    claimed = domain.image_type(data[:16])
    if claimed is None:
        raise domain.UnsupportedImageError
    kept_as = KEPT_AS.get(claimed, claimed)
    with _DECODING:
        picture = _open(data, claimed)
        try:
            still = _upright_still(picture)
            if kept_as == "image/gif" or _frames(picture) > 1:
                original = _animation(picture, kept_as)
            else:
                original = _encode("original", still, kept_as)
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            # OSError: "image file is truncated", a broken compressed stream.
            raise domain.BrokenImageError from exc
        variants = tuple(_variants(still, VARIANT_AS.get(claimed, claimed)))
    return Processed(original, variants)


def _open(data: bytes, claimed: str) -> Image.Image:
    """The picture, its header read and checked against the pixel limit; no pixel decoded."""
    try:
        picture = Image.open(io.BytesIO(data), formats=[PILLOW_FORMATS[claimed]])
        frames = _frames(picture)
    except Image.DecompressionBombError as exc:
        raise domain.ImageTooManyPixelsError from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise domain.BrokenImageError from exc
    if domain.too_many_pixels(picture.width, picture.height, frames):
        raise domain.ImageTooManyPixelsError
    return picture


def _frames(picture: Image.Image) -> int:
    """The frames of an animation (GIF, WebP); a phone's JPEG (MPO) or HEIC may hold a
    second picture (a preview, a depth map), which is no frame: only the first is used."""
    return getattr(picture, "n_frames", 1) if picture.format in ("GIF", "WEBP") else 1


def _animation(picture: Image.Image, content_type: str) -> Encoded:
    """Every frame decoded (that is the check) and written again without the file's
    comments or metadata; timing and looping kept. A GIF's own palette is kept this way."""
    keep = {k: picture.info[k] for k in ("duration", "loop") if k in picture.info}
    buffer = io.BytesIO()
    picture.seek(0)
    picture.save(buffer, save_all=True, **keep, **_options(content_type))
    picture.seek(0)
    return Encoded("original", content_type, picture.width, picture.height, buffer.getvalue())


def _upright_still(picture: Image.Image) -> Image.Image:
    """The first frame, decoded, turned as its EXIF Orientation says, with no metadata
    but its colour profile (a phone's Display P3 would look dull without it)."""
    picture.seek(0)
    picture.load()
    upright = ImageOps.exif_transpose(picture)
    if upright.mode not in ("RGB", "RGBA", "L"):
        has_alpha = upright.mode in ("LA", "PA", "La") or "transparency" in upright.info
        upright = upright.convert("RGBA" if has_alpha else "RGB")
    elif upright is picture:
        upright = picture.copy()
    profile = picture.info.get("icc_profile")
    upright.info = {"icc_profile": profile} if profile else {}
    return upright


def _options(content_type: str) -> dict[str, Any]:
    return dict(SAVE_OPTIONS[content_type])


def _encode(name: str, picture: Image.Image, content_type: str) -> Encoded:
    if content_type == "image/jpeg" and picture.mode not in ("RGB", "L"):
        # JPEG has no transparency: lay it on white, as a page would show it.
        background = Image.new("RGB", picture.size, "white")
        background.paste(picture, mask=picture.getchannel("A") if "A" in picture.mode else None)
        background.info = picture.info
        picture = background
    buffer = io.BytesIO()
    options = _options(content_type)
    profile = picture.info.get("icc_profile")
    if profile and content_type != "image/gif":
        options["icc_profile"] = profile
    # No exif= and no xmp=: Pillow writes neither unless asked, so the metadata is gone.
    picture.save(buffer, **options)
    return Encoded(name, content_type, picture.width, picture.height, buffer.getvalue())


def _variants(still: Image.Image, fallback_type: str) -> list[Encoded]:
    types = [fallback_type] if fallback_type == domain.WEBP else [fallback_type, domain.WEBP]
    sized = {
        "lead": _narrowed(still, domain.LEAD_WIDTH),
        "list": _narrowed(still, domain.LIST_WIDTH),
        "share": _share_card(still),
    }
    return [
        _encode(name, picture, content_type)
        for name, picture in sized.items()
        for content_type in types
    ]


def _narrowed(still: Image.Image, max_width: int) -> Image.Image:
    size = domain.fitted_size(still.width, still.height, max_width)
    if size == still.size:
        return still
    # reducing_gap: a cheap shrink by whole factors first, then Lanczos (as good, far faster).
    return _keeping_info(still.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0), still)


def _share_card(still: Image.Image) -> Image.Image:
    box, size = domain.share_crop(still.width, still.height)
    card = still.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
    return _keeping_info(card, still)


def _keeping_info(resized: Image.Image, source: Image.Image) -> Image.Image:
    resized.info = dict(source.info)
    return resized
