"""How sizes, ages and tables read, the same in the terminal and in the notebook (Docker's way)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

__all__ = ["human_duration", "human_size", "since", "table", "truncate"]

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB")


def human_size(size: float, precision: int = 4) -> str:
    """Decimal units with ``precision`` significant digits: ``446.7MB``, ``2.56kB``, ``0B``."""
    unit = 0
    while size >= 1000 and unit < len(_UNITS) - 1:
        size /= 1000
        unit += 1
    return f"{size:.{precision}g}{_UNITS[unit]}"


def human_duration(seconds: float) -> str:
    """Docker's rounding of an age: ``About a minute``, ``10 hours``, ``3 weeks``."""
    whole = int(seconds)
    if whole < 1:
        return "Less than a second"
    if whole == 1:
        return "1 second"
    if whole < 60:
        return f"{whole} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def since(moment: datetime | None, now: datetime | None = None) -> str:
    """``10 hours ago`` (or ``N/A`` for an image without a creation time)."""
    if moment is None:
        return "N/A"
    now = now or datetime.now(timezone.utc)
    return human_duration((now - moment).total_seconds()) + " ago"


def truncate(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` characters, the last one an ellipsis, as ``docker history``."""
    return text if len(text) <= width else text[: width - 1] + "…"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns laid out like Docker's tab writer (min width 10, padding 3)."""
    widths = [max(10, len(h) + 3) for h in header]
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell) + 3)
    lines = []
    for row in [list(header), *map(list, rows)]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        lines.append("".join(cells).rstrip())
    return "\n".join(lines) + "\n"
