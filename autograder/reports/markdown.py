"""Text a student controls, made inert in Markdown (report.md, feedback files).

Messages quote what student code raised or returned, and submission ids and file names are the
student's choice: none of it may close a code span, start a link or an image, or pass raw HTML.
- `code_span`: one line, between backtick fences longer than any backtick run inside it.
- `code_block`: a fenced block whose fence is longer than any backtick run inside it, so no
  line of the text can close it (CommonMark closes a fence only with one at least as long).
Inside code nothing is markup: no emphasis, link, image, HTML, entity or autolink forms. Neither
is safe inside a table cell (a `|` ends the cell even in a code span): student text goes in
paragraphs and list items only.
"""
from __future__ import annotations

import re

_BACKTICKS = re.compile(r"`+")


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in _BACKTICKS.findall(text)), default=0)


def code_span(text: str) -> str:
    """`text` as inline code, on one line, whatever backticks it holds."""
    text = " ".join(text.splitlines())   # every line break: \n, \r, \u2028, ...
    fence = "`" * (_longest_backtick_run(text) + 1)
    # A backtick next to the fence would join it, so pad with a space on each side; CommonMark
    # strips one space on each side of a span that has both (and is not all spaces), which also
    # pads a text that starts and ends with a space.
    pad = " " if text.strip() and ("`" in (text[0], text[-1]) or text[0] == text[-1] == " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}" if text else "` `"


def code_block(text: str) -> str:
    """`text` as a fenced code block (at the start of a line, not indented)."""
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    return "\n".join([fence, *text.splitlines(), fence])

