"""Pictures made for the tests with Pillow: phone photos with EXIF, GPS and orientation, each
accepted format, a decompression bomb, and broken files."""

from __future__ import annotations

import io
import random
import struct
import zlib

import pillow_heif
from PIL import ExifTags, Image

pillow_heif.register_heif_opener()

RED, BLUE = (220, 20, 20), (20, 20, 220)


def encode(picture: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=image_format, **options)  # type: ignore[arg-type]
    return buffer.getvalue()


def halves(width: int = 60, height: int = 40) -> Image.Image:
    """Red on the left half, blue on the right: a turn shows where the red went."""
    picture = Image.new("RGB", (width, height), BLUE)
    picture.paste(RED, (0, 0, width // 2, height))
    return picture


def exif_with_gps(orientation: int = 1) -> Image.Exif:
    """EXIF as a phone writes it: camera, orientation and where the photo was taken."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (21.0, 1.0, 42.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (105.0, 51.0, 12.0)
    return exif


def phone_jpeg(picture: Image.Image, orientation: int = 1, quality: int = 90) -> bytes:
    return encode(picture, "JPEG", quality=quality, exif=exif_with_gps(orientation))


def noise_photo(width: int = 4000, height: int = 3000, quality: int = 93) -> bytes:
    """A 12 MP JPEG of noise at high quality: about as large as a phone photo gets
    (noise does not compress)."""
    rng = random.Random(8)
    picture = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    return encode(picture, "JPEG", quality=quality)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A valid PNG of a few hundred bytes whose header claims width x height: decoded, it
    would take width * height * 3 bytes (2.7 GB for 30000 x 30000)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    # The first rows only; a decoder would still allocate the whole picture.
    rows = zlib.compress(b"\0" * (1 + width * 3) * 4, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", rows)
        + _chunk(b"IEND", b"")
    )


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (50, 30), color) for color in (RED, BLUE, (20, 200, 20))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def formats() -> dict[str, bytes]:
    """One small picture in each accepted format."""
    transparent = Image.new("RGBA", (64, 48), (0, 128, 0, 128))
    return {
        "image/jpeg": encode(halves(64, 48), "JPEG"),
        "image/png": encode(transparent, "PNG"),
        "image/webp": encode(halves(64, 48), "WEBP"),
        "image/gif": animated_gif(),
        "image/heic": encode(halves(64, 48), "HEIF"),
    }
