"""Text a student controls, made safe to show in a terminal, a log or a report."""
from __future__ import annotations

import re

# No control characters (escape sequences could rewrite a terminal's table) and no lone
# surrogates (they cannot be written as UTF-8). Newline and tab are kept.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def printable(text: str) -> str:
    """`text` without control characters (newline and tab kept) or lone surrogates."""
    return _UNPRINTABLE.sub("\N{REPLACEMENT CHARACTER}", text)
