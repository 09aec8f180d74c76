"""Photo upload checks: content sniffing, decoding, limits, EXIF stripping, GPS, thumbnails.
Every image is generated here with Pillow; there are no binary fixtures."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from datetime import datetime

import pytest
from PIL import Image, PngImagePlugin
from PIL.TiffImagePlugin import IFDRational as R

from civicgrid.errors import DomainError
from civicgrid.files.images import ALLOWED, PayloadTooLarge, ProcessedImage, process_image, sniff

MAKE, MODEL, SOFTWARE, ORIENTATION, GPS_IFD, EXIF_IFD = 0x010F, 0x0110, 0x0131, 0x0112, 0x8825, 0x8769
DATETIME_ORIGINAL, BODY_SERIAL = 0x9003, 0xA431


def make_exif(*, orientation: int | None = None, gps: bool = True, camera: bool = True) -> Image.Exif:
    exif = Image.Exif()
    if camera:
        exif[MAKE] = "AcmePhone"
        exif[MODEL] = "Model-X900"
        exif[SOFTWARE] = "SecretFirmware 1.2"
        exif.get_ifd(EXIF_IFD)[BODY_SERIAL] = "SN-0042-XYZ"
        exif.get_ifd(EXIF_IFD)[DATETIME_ORIGINAL] = "2024:05:06 07:08:09"
    if orientation is not None:
        exif[ORIENTATION] = orientation
    if gps:  # 23°1'14.5"N 113°45'6.5"E (Dongguan)
        exif[GPS_IFD] = {0: b"\x02\x02\x00\x00", 1: "N", 2: (R(23), R(1), R(145, 10)),
                         3: "E", 4: (R(113), R(45), R(65, 10))}
    return exif


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def photo(size: tuple[int, int] = (200, 100), **exif_kwargs) -> bytes:
    img = Image.new("RGB", size, (40, 120, 200))
    return encode(img, "JPEG", exif=make_exif(**exif_kwargs), quality=95,
                  comment=b"private comment", xmp=b"<x:xmpmeta>private-xmp</x:xmpmeta>")


def error_of(excinfo: pytest.ExceptionInfo[DomainError]) -> tuple[str, int]:
    return excinfo.value.code, excinfo.value.status


# --- sniffing ---------------------------------------------------------------------------------------------------

def test_sniff_uses_magic_bytes_only() -> None:
    img = Image.new("RGB", (4, 4))
    assert sniff(encode(img, "JPEG")) == "image/jpeg"
    assert sniff(encode(img, "PNG")) == "image/png"
    assert sniff(encode(img, "WEBP")) == "image/webp"
    assert sniff(encode(img, "GIF")) is None
    assert sniff(encode(img, "BMP")) is None
    assert sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None
    assert sniff(b"hello, I am text") is None
    assert sniff(b"") is None


# --- metadata -------------------------------------------------------------------------------------------------

def test_jpeg_keeps_orientation_and_gps_but_drops_camera_metadata() -> None:
    data = photo(orientation=6)
    assert b"AcmePhone" in data and b"private" in data  # the upload really carries them

    result = process_image(data, filename="IMG_0001.jpg")

    assert (result.mime, result.ext) == ("image/jpeg", "jpg")
    assert (result.width, result.height) == (200, 100)
    for secret in (b"AcmePhone", b"Model-X900", b"SecretFirmware", b"SN-0042", b"private", b"2024:05:06"):
        assert secret not in result.data
    stored = Image.open(io.BytesIO(result.data))
    assert stored.format == "JPEG"
    exif = stored.getexif()
    assert exif.get(ORIENTATION) == 6
    assert MAKE not in exif and MODEL not in exif and SOFTWARE not in exif
    assert exif.get_ifd(EXIF_IFD) == {}
    gps = exif.get_ifd(GPS_IFD)
    assert gps[1] == "N" and gps[3] == "E"
    assert [float(v) for v in gps[2]] == [23.0, 1.0, 14.5]
    assert [float(v) for v in gps[4]] == [113.0, 45.0, 6.5]
    assert "comment" not in stored.info and "xmp" not in stored.info


def test_gps_and_taken_at_are_decoded() -> None:
    result = process_image(photo())
    assert result.gps is not None
    lon, lat = result.gps
    assert lon == pytest.approx(113 + 45 / 60 + 6.5 / 3600) == pytest.approx(113.7518055, abs=1e-6)
    assert lat == pytest.approx(23 + 1 / 60 + 14.5 / 3600) == pytest.approx(23.0206944, abs=1e-6)
    assert result.taken_at == datetime(2024, 5, 6, 7, 8, 9)


def test_southern_and_western_hemispheres_are_negative() -> None:
    exif = Image.Exif()
    exif[GPS_IFD] = {1: "S", 2: (R(33), R(52), R(0)), 3: "W", 4: (R(70), R(30), R(0))}
    result = process_image(encode(Image.new("RGB", (8, 8)), "JPEG", exif=exif))
    assert result.gps == pytest.approx((-70.5, -(33 + 52 / 60)))


@pytest.mark.parametrize("gps_ifd", [
    {2: (R(23), R(1), R(14)), 4: (R(113), R(45), R(6))},  # no N/S/E/W refs
    {1: "N", 2: (R(123), R(0), R(0)), 3: "E", 4: (R(113), R(0), R(0))},  # latitude beyond 90°
    {1: "N", 2: (R(23), R(1, 0), R(0)), 3: "E", 4: (R(113), R(0), R(0))},  # zero denominator
    {1: "X", 2: (R(23), R(0), R(0)), 3: "E", 4: (R(113), R(0), R(0))},  # bad ref
    {1: "N", 2: (R(23), R(1), R(2), R(3)), 3: "E", 4: (R(113), R(0), R(0))},  # four numbers
    {1: "N", 2: (R(23), R(75), R(0)), 3: "E", 4: (R(113), R(0), R(0))},  # 75 minutes
    {1: "N", 2: (R(0), R(0), R(0)), 3: "E", 4: (R(0), R(0), R(0))},  # "no fix"
])
def test_malformed_gps_is_ignored(gps_ifd: dict) -> None:
    exif = Image.Exif()
    exif[GPS_IFD] = gps_ifd
    result = process_image(encode(Image.new("RGB", (8, 8)), "JPEG", exif=exif))
    assert result.gps is None


def test_photo_without_exif() -> None:
    result = process_image(encode(Image.new("RGB", (64, 48), "red"), "JPEG"))
    assert result.gps is None and result.taken_at is None
    assert not Image.open(io.BytesIO(result.data)).getexif()


# --- thumbnails -----------------------------------------------------------------------------------------------

def test_thumbnail_is_upright_and_small() -> None:
    # 200x100 landscape pixels with Orientation=6 (rotate 90° clockwise to display): a portrait photo.
    img = Image.new("RGB", (200, 100), (255, 255, 255))
    img.paste((255, 0, 0), (0, 0, 40, 20))  # red block in the stored top-left corner
    data = encode(img, "JPEG", exif=make_exif(orientation=6), quality=95)

    result = process_image(data, thumb_px=50)

    thumb = Image.open(io.BytesIO(result.thumb))
    assert thumb.format == "JPEG" and thumb.mode == "RGB"
    assert thumb.size == (25, 50)  # portrait, longest side == thumb_px
    assert not thumb.getexif()  # already upright: no orientation to apply twice
    # After a clockwise quarter turn the stored top-left corner is displayed top-right.
    r, g, b = thumb.getpixel((thumb.width - 2, 1))
    assert r > 200 and g < 80 and b < 80
    r, g, b = thumb.getpixel((1, 1))
    assert r > 200 and g > 200 and b > 200


def test_thumbnail_never_enlarges_and_flattens_transparency_on_white() -> None:
    img = Image.new("RGBA", (30, 10), (0, 0, 0, 0))
    result = process_image(encode(img, "PNG"))
    thumb = Image.open(io.BytesIO(result.thumb))
    assert thumb.size == (30, 10)
    assert thumb.getpixel((5, 5)) == pytest.approx((255, 255, 255), abs=3)


def test_default_thumbnail_size() -> None:
    result = process_image(encode(Image.new("RGB", (1000, 750)), "JPEG"))
    assert Image.open(io.BytesIO(result.thumb)).size == (320, 240)


# --- formats --------------------------------------------------------------------------------------------------

def test_png_is_accepted_and_text_chunks_are_dropped() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Zhang San")
    info.add_itxt("Comment", "内部备注", lang="zh")
    img = Image.new("RGBA", (40, 30), (10, 20, 30, 128))
    data = encode(img, "PNG", pnginfo=info, exif=make_exif(orientation=3))

    result = process_image(data, filename="scan.png")

    assert (result.mime, result.ext, result.width, result.height) == ("image/png", "png", 40, 30)
    assert b"Zhang San" not in result.data and b"AcmePhone" not in result.data
    stored = Image.open(io.BytesIO(result.data))
    assert stored.mode == "RGBA" and stored.getpixel((0, 0)) == (10, 20, 30, 128)  # lossless
    assert not getattr(stored, "text", {})
    assert stored.getexif().get(ORIENTATION) == 3
    assert result.gps == pytest.approx((113.7518055, 23.0206944), abs=1e-6)


@pytest.mark.parametrize("lossless", [False, True])
def test_webp_is_accepted(lossless: bool) -> None:
    data = encode(Image.new("RGB", (60, 40), (0, 128, 255)), "WEBP", lossless=lossless,
                  exif=make_exif(), xmp=b"<x:xmpmeta>private-xmp</x:xmpmeta>")
    result = process_image(data)
    assert (result.mime, result.ext, result.width, result.height) == ("image/webp", "webp", 60, 40)
    assert b"AcmePhone" not in result.data and b"private" not in result.data
    stored = Image.open(io.BytesIO(result.data))
    assert stored.format == "WEBP"
    assert stored.getexif().get_ifd(GPS_IFD)[1] == "N"
    assert result.gps is not None
    if lossless:
        assert stored.getpixel((5, 5)) == (0, 128, 255)


def test_type_comes_from_content_not_filename() -> None:
    with pytest.raises(DomainError) as excinfo:
        process_image("这不是图片，只是文本。".encode(), filename="x.jpg")
    assert error_of(excinfo) == ("unsupported_file_type", 400)
    assert "仅支持 JPG、PNG、WebP 图片" in excinfo.value.message_zh
    assert "x.jpg" in excinfo.value.message_zh

    # A real PNG called .jpg is a PNG.
    result = process_image(encode(Image.new("RGB", (8, 8)), "PNG"), filename="x.jpg")
    assert (result.mime, result.ext) == ("image/png", "png")


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_image_formats_are_refused(fmt: str) -> None:
    with pytest.raises(DomainError) as excinfo:
        process_image(encode(Image.new("RGB", (8, 8)), fmt))
    assert error_of(excinfo) == ("unsupported_file_type", 400)


# --- broken and hostile input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [
    b"\x89PNG\r\n\x1a\n" + b"garbage" * 50,
    b"\xff\xd8\xff" + b"\x00garbage" * 50,
    b"RIFF\x10\x00\x00\x00WEBPVP8 garbage!",
])
def test_signature_followed_by_garbage_is_corrupt(data: bytes) -> None:
    with pytest.raises(DomainError) as excinfo:
        process_image(data, filename="a.png")
    assert error_of(excinfo) == ("corrupt_image", 400)
    assert excinfo.value.message_zh


def test_truncated_image_is_corrupt() -> None:
    data = photo(size=(400, 300))
    with pytest.raises(DomainError) as excinfo:
        process_image(data[: len(data) // 2])
    assert error_of(excinfo) == ("corrupt_image", 400)


def test_empty_file() -> None:
    with pytest.raises(DomainError) as excinfo:
        process_image(b"", filename="a.jpg")
    assert error_of(excinfo) == ("empty_file", 400)


def test_too_many_bytes_is_413() -> None:
    data = photo()
    with pytest.raises(PayloadTooLarge) as excinfo:
        process_image(data, max_bytes=len(data) - 1)
    assert error_of(excinfo) == ("file_too_large", 413)
    assert excinfo.value.to_dict()["code"] == "file_too_large"
    assert process_image(data, max_bytes=len(data)).mime == "image/jpeg"  # the limit itself is allowed


def test_too_many_pixels() -> None:
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    with pytest.raises(DomainError) as excinfo:
        process_image(data, max_pixels=1000)
    assert error_of(excinfo) == ("image_too_large", 400)
    assert process_image(data, max_pixels=10_000).width == 100


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that declares huge dimensions (a decompression bomb's header)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [7_000, 30_000])  # over our limit / over Pillow's own bomb limit too
def test_decompression_bomb_is_refused_before_decoding(side: int) -> None:
    max_pixels_before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(DomainError) as excinfo:
        process_image(_png_header_only(side, side))
    assert error_of(excinfo) == ("image_too_large", 400)
    assert Image.MAX_IMAGE_PIXELS == max_pixels_before  # no global state changed


# --- result ---------------------------------------------------------------------------------------------------

def test_sha256_is_of_stored_data_and_stable() -> None:
    data = photo(orientation=6)
    first, second = process_image(data), process_image(data)
    assert first.sha256 == hashlib.sha256(first.data).hexdigest()
    assert first.sha256 == second.sha256 and first.data == second.data
    assert first.thumb == second.thumb


def test_result_shape() -> None:
    result = process_image(photo())
    assert isinstance(result, ProcessedImage)
    assert result.ext == ALLOWED[result.mime]
    assert "data=" not in repr(result)  # no megabytes in logs
    with pytest.raises(AttributeError):
        result.sha256 = "x"  # type: ignore[misc]


def test_multi_picture_jpeg_keeps_first_picture_only() -> None:
    # Many phones write MPO files (a JPEG followed by more JPEGs, each with its own EXIF).
    first, second = Image.new("RGB", (80, 60), "red"), Image.new("RGB", (80, 60), "blue")
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[second], exif=make_exif(orientation=8))
    result = process_image(buf.getvalue())
    assert (result.mime, result.width, result.height) == ("image/jpeg", 80, 60)
    stored = Image.open(io.BytesIO(result.data))
    assert stored.format == "JPEG" and getattr(stored, "n_frames", 1) == 1
    assert b"AcmePhone" not in result.data
    assert stored.getexif().get(ORIENTATION) == 8
    assert Image.open(io.BytesIO(result.thumb)).size == (60, 80)
