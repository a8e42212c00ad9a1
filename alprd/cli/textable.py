"""Plain text tables for the CLI: every cell in full, whatever the terminal's width.

rich cuts or folds cells to fit the terminal (and assumes 80 columns when stdout is a pipe), so
a camera id became `came…` and a plate could lose characters. These tables pad columns to their
longest cell, counting East Asian wide characters (粤) as two columns, and let a narrow terminal
wrap long lines instead of hiding their ends. Machines get --json/--csv, not these.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence


def display_width(text: str) -> int:
    """Terminal columns `text` takes: wide and full-width characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * (width - display_width(text))
    return gap + text if right else text + gap


def format_table(headers: Sequence[str], rows: Iterable[Sequence[object]],
                 right: Iterable[int] = ()) -> str:
    """The table as lines of text (no trailing spaces); `right` = indices of right-aligned columns."""
    right = set(right)
    cells = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(display_width(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(_pad(c, widths[i], i in right) for i, c in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
