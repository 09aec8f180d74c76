"""Checks and clean-up for uploaded photos.

Grid workers photograph problems on their phones. An upload is accepted only if its *content* is a JPEG, PNG or
WebP image that really decodes and is not too big. The stored copy is re-encoded by Pillow with all metadata
removed except the EXIF Orientation tag and the GPS IFD (the location is part of the evidence); the camera
make/model, serial numbers, software, comments, XMP, IPTC, embedded thumbnails and trailing data are dropped.
A small upright JPEG thumbnail is made alongside.

No global Pillow state is changed: the pixel limit is checked from the image header before decoding, and
Pillow's own decompression-bomb error (raised at twice ``Image.MAX_IMAGE_PIXELS``) is reported the same way.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PIL import Image, JpegImagePlugin

from civicgrid.errors import BadInput, DomainError

ALLOWED = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}

_PIL_FORMAT = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
_OPENED_AS = {"image/jpeg": {"JPEG", "MPO"}, "image/png": {"PNG"}, "image/webp": {"WEBP"}}

TAG_ORIENTATION = 0x0112
TAG_EXIF_IFD = 0x8769
TAG_GPS_IFD = 0x8825
TAG_DATETIME_ORIGINAL = 0x9003
_GPS_STANDARD_TAGS = range(0, 32)  # GPSVersionID … GPSHPositioningError (EXIF 2.32); anything else is dropped
_MAX_EXIF_BYTES = 60_000  # a JPEG APP1 segment holds at most 65 533 bytes

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}  # the same mapping as PIL.ImageOps.exif_transpose

ALLOWED_ZH = "仅支持 JPG、PNG、WebP 图片"


class PayloadTooLarge(DomainError):
    status = 413
    code = "file_too_large"


@dataclass(frozen=True, slots=True)
class ProcessedImage:
    mime: str
    ext: str
    width: int  # of `data` as stored; orientations 5-8 swap the displayed width and height
    height: int
    data: bytes = field(repr=False)  # the image to store: metadata stripped except orientation and GPS
    thumb: bytes = field(repr=False)  # JPEG thumbnail, longest side <= thumb_px, orientation applied (upright)
    sha256: str  # of `data`
    gps: tuple[float, float] | None  # (lon, lat), decimal degrees, WGS-84 as phones record it
    taken_at: datetime | None  # EXIF DateTimeOriginal, naive, as recorded by the camera


def sniff(data: bytes) -> str | None:
    """The MIME type told by the magic bytes (JPEG, PNG or WebP), or None. Filenames are never consulted."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def process_image(data: bytes, *, filename: str = "", max_bytes: int = 10 * 1024 * 1024,
                  max_pixels: int = 40_000_000, thumb_px: int = 320) -> ProcessedImage:
    """Check an uploaded photo and return the cleaned copy to store, its thumbnail and what its EXIF tells.

    `filename` is used only in error messages. Raises a :class:`DomainError` with code ``empty_file``,
    ``file_too_large`` (413), ``unsupported_file_type``, ``corrupt_image`` or ``image_too_large``.
    """
    name = _display_name(filename)
    if not data:
        raise BadInput("empty_file", f"{name}是空文件，请重新选择" if name else "文件为空，请重新选择",
                       "Empty file")
    if len(data) > max_bytes:
        raise PayloadTooLarge("file_too_large", f"{name}图片过大，单个文件不能超过 {_human_bytes(max_bytes)}",
                              f"File is {len(data)} bytes, the limit is {max_bytes}",
                              extra={"max_bytes": max_bytes})
    mime = sniff(data)
    if mime is None:
        raise BadInput("unsupported_file_type", f"{name}不是支持的图片格式，{ALLOWED_ZH}" if name else ALLOWED_ZH,
                       "Only JPEG, PNG and WebP images are accepted (detected from the content)")

    img = _open(data, mime, name, max_pixels)
    try:
        exif = _read_exif(img)
        orientation = _orientation(exif)
        gps = _gps(exif)
        taken_at = _taken_at(exif)
        try:
            stored = _reencode(img, data, mime, _reduced_exif(exif, orientation))
            thumb = _thumbnail(img, orientation, thumb_px)
        except (OSError, ValueError) as e:  # a pixel mode Pillow reads but cannot write back
            raise BadInput("corrupt_image", f"{name}图片格式特殊，无法处理，请转换为普通 JPG 后再上传",
                           f"The image decodes but cannot be re-encoded: {e}") from None
        width, height = img.size
    finally:
        img.close()
    return ProcessedImage(mime=mime, ext=ALLOWED[mime], width=width, height=height, data=stored, thumb=thumb,
                          sha256=hashlib.sha256(stored).hexdigest(), gps=gps, taken_at=taken_at)


# --- decoding -------------------------------------------------------------------------------------------------

def _open(data: bytes, mime: str, name: str, max_pixels: int) -> Image.Image:
    def too_large(detail: str) -> BadInput:
        return BadInput("image_too_large",
                        f"{name}图片分辨率过大（超过 {_human_pixels(max_pixels)}），请缩小后再上传", detail,
                        extra={"max_pixels": max_pixels})

    corrupt = BadInput("corrupt_image", f"{name}图片已损坏或无法识别，请重新拍摄或选择其他图片",
                       "The file has an image signature but does not decode")
    try:
        img = Image.open(io.BytesIO(data), formats=[_PIL_FORMAT[mime]])
    except Image.DecompressionBombError as e:
        raise too_large(str(e)) from None
    except Exception:  # anything Pillow raises on hostile input means "not a usable image"
        raise corrupt from None
    try:
        if img.format not in _OPENED_AS[mime]:
            raise corrupt
        width, height = img.size
        if width <= 0 or height <= 0:
            raise corrupt
        if width * height > max_pixels:  # checked from the header, before any pixel is decoded
            raise too_large(f"{width}x{height} pixels exceeds the limit of {max_pixels}")
        try:
            img.load()
        except Image.DecompressionBombError as e:
            raise too_large(str(e)) from None
        except Exception:
            raise corrupt from None
    except BaseException:
        img.close()
        raise
    return img


# --- EXIF -----------------------------------------------------------------------------------------------------

def _read_exif(img: Image.Image) -> Image.Exif:
    """The image's EXIF; malformed EXIF counts as none (it must not get a photo refused)."""
    try:
        exif = img.getexif()
        dict(exif)  # force parsing now
        return exif
    except Exception:
        return Image.Exif()


def _orientation(exif: Image.Exif) -> int | None:
    value = exif.get(TAG_ORIENTATION)
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def _gps_ifd(exif: Image.Exif) -> dict[int, Any]:
    try:
        ifd = exif.get_ifd(TAG_GPS_IFD)
    except Exception:
        return {}
    return dict(ifd) if isinstance(ifd, dict) else {}


def _reduced_exif(exif: Image.Exif, orientation: int | None) -> bytes:
    """EXIF bytes holding only the orientation and the (standard tags of the) GPS IFD; b"" if neither."""
    gps_ifd = {tag: value for tag, value in _gps_ifd(exif).items() if tag in _GPS_STANDARD_TAGS}
    for keep_gps in (True, False):
        reduced = Image.Exif()
        reduced.endian = exif.endian or "<"
        if orientation is not None:
            reduced[TAG_ORIENTATION] = orientation
        if keep_gps and gps_ifd:
            reduced[TAG_GPS_IFD] = gps_ifd
        if not len(reduced):
            return b""
        try:
            raw = reduced.tobytes()
        except Exception:  # a GPS value Pillow cannot write back: keep the orientation at least
            continue
        if len(raw) <= _MAX_EXIF_BYTES:
            return raw
    return b""


def _gps(exif: Image.Exif) -> tuple[float, float] | None:
    """(lon, lat) in decimal degrees from GPSLatitude/GPSLongitude and their N/S/E/W refs; None if absent or
    malformed. (0, 0) is how some phones write "no fix", so it counts as absent."""
    ifd = _gps_ifd(exif)
    try:
        lat = _dms(ifd.get(2), _ref(ifd.get(1)), {"N": 1, "S": -1}, 90)
        lon = _dms(ifd.get(4), _ref(ifd.get(3)), {"E": 1, "W": -1}, 180)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    if lat is None or lon is None or (lat == 0 and lon == 0):
        return None
    return (lon, lat)


def _ref(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return value.strip("\x00 ").upper() if isinstance(value, str) else ""


def _dms(value: Any, ref: str, signs: dict[str, int], limit: float) -> float | None:
    if value is None or ref not in signs:
        return None
    parts = list(value) if isinstance(value, (tuple, list)) else [value]
    if not 1 <= len(parts) <= 3:
        return None
    numbers = [float(p) for p in parts] + [0.0] * (3 - len(parts))
    degrees, minutes, seconds = numbers
    if not all(math.isfinite(n) and n >= 0 for n in numbers) or minutes >= 60 or seconds >= 60:
        return None
    result = degrees + minutes / 60 + seconds / 3600
    if result > limit:
        return None
    return signs[ref] * result


_EXIF_DATETIME_RE = re.compile(r"(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


def _taken_at(exif: Image.Exif) -> datetime | None:
    try:
        value = exif.get_ifd(TAG_EXIF_IFD).get(TAG_DATETIME_ORIGINAL)
    except Exception:
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    match = _EXIF_DATETIME_RE.match(value.strip("\x00 "))
    if not match:
        return None
    try:
        return datetime(*(int(g) for g in match.groups()))
    except ValueError:  # "0000:00:00 00:00:00" and other placeholders
        return None


# --- encoding -------------------------------------------------------------------------------------------------

def _reencode(img: Image.Image, data: bytes, mime: str, exif: bytes) -> bytes:
    """The image re-saved by Pillow with only `exif` and the ICC profile as metadata.

    JPEG: quality 90 with the original chroma subsampling (one generation of loss, no more). PNG: lossless.
    WebP: lossless if the upload was lossless, else quality 90. Only the first frame of an animation is kept.
    """
    icc = img.info.get("icc_profile") or None
    transparency = img.info.get("transparency")
    out = io.BytesIO()
    options: dict[str, Any] = {}
    if icc:
        options["icc_profile"] = icc
    if exif:
        options["exif"] = exif
    original_info = img.info
    # Pillow's writers fall back to img.info for some fields (the JPEG comment, PNG transparency and ICC):
    # hide everything except what the pixels themselves need.
    img.info = {"transparency": transparency} if transparency is not None else {}
    try:
        if mime == "image/jpeg":
            sampling = JpegImagePlugin.get_sampling(img)
            if sampling != -1:
                options["subsampling"] = sampling
            img.save(out, format="JPEG", quality=90, optimize=True, **options)
        elif mime == "image/png":
            img.save(out, format="PNG", **options)
        else:
            if _webp_is_lossless(data):
                options["lossless"] = True
            else:
                options["quality"] = 90
            img.save(out, format="WEBP", method=4, **options)
    finally:
        img.info = original_info
    return out.getvalue()


def _webp_is_lossless(data: bytes) -> bool:
    """Whether the first image chunk of a WebP file is VP8L (lossless) rather than VP8 (lossy)."""
    pos = 12
    while pos + 8 <= len(data):
        fourcc = data[pos:pos + 4]
        size = int.from_bytes(data[pos + 4:pos + 8], "little")
        if fourcc == b"VP8L":
            return True
        if fourcc == b"VP8 ":
            return False
        if fourcc == b"ANMF":  # an animation frame: look at the chunks inside it (after the 16-byte header)
            pos += 8 + 16
            continue
        pos += 8 + size + (size & 1)
    return False


def _thumbnail(img: Image.Image, orientation: int | None, thumb_px: int) -> bytes:
    """Upright RGB JPEG (quality 80) whose longest side is at most `thumb_px`; transparency on white."""
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if has_alpha:
        rgba = img.convert("RGBA")
        thumb = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    else:
        thumb = img.convert("RGB")  # a new image: `img` itself is left untouched
    thumb.thumbnail((thumb_px, thumb_px), Image.Resampling.LANCZOS)
    if orientation in _TRANSPOSE:
        thumb = thumb.transpose(_TRANSPOSE[orientation])
    thumb.info = {}
    out = io.BytesIO()
    thumb.save(out, format="JPEG", quality=80, optimize=True)
    return out.getvalue()


# --- messages -------------------------------------------------------------------------------------------------

def _display_name(filename: str) -> str:
    """The filename quoted for a Chinese message ("“x.jpg”"), or "" if none; control characters removed."""
    if not filename:
        return ""
    name = "".join(ch for ch in filename.replace("\\", "/").rsplit("/", 1)[-1] if ch.isprintable()).strip()
    if len(name) > 40:
        name = name[:37] + "…"
    return f"“{name}”" if name else ""


def _human_bytes(n: int) -> str:
    mib = 1024 * 1024
    if n >= mib:
        return f"{n / mib:.1f}".rstrip("0").rstrip(".") + " MB"
    if n >= 1024:
        return f"{n / 1024:.1f}".rstrip("0").rstrip(".") + " KB"
    return f"{n} 字节"


def _human_pixels(n: int) -> str:
    if n >= 10_000:
        return f"{n / 10_000:.1f}".rstrip("0").rstrip(".") + " 万像素"
    return f"{n} 像素"
