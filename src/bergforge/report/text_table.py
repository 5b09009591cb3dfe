"""Aligned plain-text tables (the leaderboards the CLI prints)."""

from __future__ import annotations

from collections.abc import Sequence


def aligned_table(header: Sequence[str], rows: list[list[str]], first_number: str) -> str:
    """``header`` and ``rows`` of cells as aligned text: columns before ``first_number`` (a header
    name) left-aligned, it and the ones after right-aligned, a dashed rule under the header."""
    cells = [list(header), *rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    first = list(header).index(first_number)
    lines = []
    for k, line in enumerate(cells):
        parts = [
            c.rjust(w) if i >= first else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
