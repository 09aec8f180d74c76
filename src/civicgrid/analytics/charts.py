"""Chart images for bulletins, drawn server-side with Pillow (no browser, no extra dependency)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_CANDIDATES = [
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "/System/Library/Fonts/PingFang.ttc",
]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for p in FONT_CANDIDATES:
        if Path(p).exists():
            return ImageFont.truetype(p, size)
    return ImageFont.load_default()


def bar_chart(title: str, items: list[tuple[str, float, bool]], unit: str = "分", max_value: float | None = None,
              width: int = 1600) -> bytes:
    """Horizontal bars, one per (label, value, flagged); flagged ones (the bottom of a ranking) in red."""
    row_h = 46
    top, left, right = 110, 260, 140
    height = top + max(1, len(items)) * row_h + 60
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    f_title, f_label = _font(40), _font(28)
    d.text((width // 2, 30), title, fill="#111827", font=f_title, anchor="ma")
    vmax = max_value or max([v for _, v, _ in items] + [1.0])
    span = width - left - right
    for i, (label, value, flagged) in enumerate(items):
        y = top + i * row_h
        d.text((left - 16, y + row_h // 2), label, fill="#111827", font=f_label, anchor="rm")
        w = int(span * max(0.0, value) / vmax)
        d.rectangle([left, y + 8, left + w, y + row_h - 8], fill="#dc2626" if flagged else "#2563eb")
        d.text((left + w + 10, y + row_h // 2), f"{value:.2f}{unit}", fill="#111827", font=f_label, anchor="lm")
    d.line([left, top - 6, left, top + len(items) * row_h], fill="#6b7280", width=2)
    if not items:
        d.text((width // 2, top + 10), "无数据", fill="#6b7280", font=f_label, anchor="ma")
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()
