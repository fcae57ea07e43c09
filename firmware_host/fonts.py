"""Fonts bundled with Cherga, so every node renders Ukrainian Ґ Є І Ї, Kyrgyz Ң Ө Ү and Kazakh
Ә Ғ Қ Ұ Һ the same way whatever the system has installed (DejaVu, free licence in fonts/)."""

from __future__ import annotations

from pathlib import Path

FONT_DIR = Path(__file__).resolve().parent / "fonts"
REGULAR = FONT_DIR / "DejaVuSans.ttf"
BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"
CONDENSED_BOLD = FONT_DIR / "DejaVuSansCondensed-Bold.ttf"


def font_path(bold: bool = False, condensed: bool = False) -> Path:
    if bold and condensed:
        return CONDENSED_BOLD
    return BOLD if bold else REGULAR
