"""Text and HTML renderings of builds, transfers, images and layers.

The widgets (:mod:`.widgets`) draw their HTML parts with these functions, and every widget and
every value a magic returns carries them as ``text/plain`` and ``text/html`` in its mime bundle,
so a saved notebook still shows the build log and the tables where the widget JavaScript is
absent (nbconvert, GitHub's preview, a terminal IPython).

The HTML is self-contained (inline styles, no scripts), which is what nbconvert and GitHub keep.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from ..engine.engine import HistoryEntry, ImageRow
from ..engine.image import Image
from ..formatting import human_size, since, table, truncate
from .layer_contents import LayerInfo
from .progress_model import (
    CACHED,
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    BuildState,
    StepRow,
    TransferState,
)

__all__ = [
    "build_html",
    "build_text",
    "error_html",
    "history_html",
    "history_text",
    "image_html",
    "image_text",
    "images_html",
    "images_text",
    "layers_html",
    "layers_text",
    "transfer_html",
    "transfer_text",
]

_E = html.escape
_STATE_STYLE = {
    QUEUED: ("#888", "queued"),
    RUNNING: ("#b58900", "running"),
    CACHED: ("#268bd2", "cached"),
    DONE: ("#2e7d32", "done"),
    FAILED: ("#c62828", "failed"),
}
_TABLE = "border-collapse:collapse;font-family:monospace;font-size:12px"
_CELL = "padding:1px 8px;text-align:left;border-bottom:1px solid #eee;vertical-align:top"


def short_id(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}s"


def _size(value: int | None) -> str:
    return "" if value is None else human_size(value)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]], raw: bool = False) -> str:
    """A plain HTML table; cells are escaped unless ``raw``."""
    head = "".join(f'<th style="{_CELL}">{_E(h)}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">{c if raw else _E(c)}</td>' for c in row) + "</tr>"
        for row in rows
    )
    return f'<table style="{_TABLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def error_html(message: str) -> str:
    return f'<div style="color:#c62828;font-family:monospace">{_E(message)}</div>'


# -- builds ---------------------------------------------------------------------------------------


def _step_state(row: StepRow) -> str:
    color, label = _STATE_STYLE.get(row.state, ("#888", row.state))
    return f'<span style="color:{color};font-weight:bold">{label}</span>'


def _summary(state: BuildState) -> str:
    done = f"{state.completed}/{state.total} steps"
    if state.status == "finished":
        names = ", ".join(state.tags) or "untagged"
        return f"Successfully built {short_id(state.image_id)} ({names}) in {state.elapsed:.1f}s"
    if state.status in (FAILED, "interrupted"):
        return f"Build {state.status} ({done}): {state.message}"
    return f"Building… {done}, {state.elapsed:.1f}s"


def steps_html(state: BuildState) -> str:
    rows = []
    for row in state.steps:
        why = "" if row.state == CACHED or not row.reason else f"cache miss: {row.reason}"
        rows.append(
            [
                f"{row.number}/{state.total}",
                _step_state(row),
                f"<code>{_E(truncate(row.instruction, 90))}</code>"
                + (f'<br><small style="color:#888">{_E(why)}</small>' if why else ""),
                _seconds(row.duration if row.duration is not None else None)
                if row.state != RUNNING
                else _seconds(row.elapsed),
                _size(row.layer_size) if row.state == DONE else "",
            ]
        )
    return _html_table(["STEP", "STATE", "INSTRUCTION", "TIME", "LAYER"], rows, raw=True)


def full_log_text(state: BuildState) -> str:
    lines: list[str] = []
    for row in state.steps:
        lines.append(f"Step {row.number}/{state.total} : {row.instruction}")
        if row.state == CACHED:
            lines.append(" ---> Using cache")
        elif row.reason:
            lines.append(f" ---> Cache miss: {row.reason}")
        lines.extend(row.log)
        if row.image_id and row.state in (DONE, CACHED):
            lines.append(f" ---> {short_id(row.image_id)}")
    return "\n".join(lines)


def build_text(state: BuildState) -> str:
    """The build as Docker's classic text, with the step table's states and a summary line."""
    rows = [
        [
            f"{row.number}/{state.total}",
            row.state,
            truncate(row.instruction, 60),
            _seconds(row.duration),
            _size(row.layer_size) if row.state == DONE else "",
        ]
        for row in state.steps
    ]
    out = table(["STEP", "STATE", "INSTRUCTION", "TIME", "LAYER"], rows)
    log = full_log_text(state)
    return out + (log + "\n" if log else "") + _summary(state)


def build_html_summary(state: BuildState) -> str:
    color = {"finished": "#2e7d32", FAILED: "#c62828", "interrupted": "#c62828"}.get(
        state.status, "#b58900"
    )
    return (
        f'<span style="font-family:monospace;font-weight:bold;color:{color}">'
        f"{_E(_summary(state))}</span>"
    )


def build_html(state: BuildState, tail: int = 8) -> str:
    parts = [
        f"<div>{build_html_summary(state)}</div>",
        progress_bar_html(state.completed, state.total),
        steps_html(state),
    ]
    lines = state.tail(tail) if state.status == RUNNING else []
    if lines:
        parts.append(log_html(lines))
    full = full_log_text(state)
    if full:
        parts.append(
            f"<details><summary>Full log ({state.log_lines} lines)</summary>"
            f"{log_html(full.splitlines())}</details>"
        )
    return "<div>" + "".join(parts) + "</div>"


def log_html(lines: Sequence[str]) -> str:
    text = _E("\n".join(lines))
    return (
        '<pre style="background:#f6f6f6;padding:4px;margin:2px 0;max-height:24em;'
        f'overflow:auto;font-size:11px">{text}</pre>'
    )


def progress_bar_html(done: int, total: int, width: int = 300) -> str:
    fraction = done / total if total else 0.0
    return (
        f'<div style="width:{width}px;height:8px;background:#eee;margin:3px 0">'
        f'<div style="width:{fraction * 100:.1f}%;height:8px;background:#2e7d32"></div></div>'
    )


# -- pulls and pushes -----------------------------------------------------------------------------


def transfer_rows(state: TransferState) -> list[list[str]]:
    rows = []
    for layer in state.layers.values():
        total = layer.total
        amount = (
            f"{human_size(layer.done)}/{human_size(total)}" if total else human_size(layer.done)
        )
        busy = "Downloading" if state.task == "pull" else "Pushing"
        rows.append([layer.item, layer.result or (busy if layer.done else "Waiting"), amount])
    return rows


def transfer_text(state: TransferState) -> str:
    head = f"{state.task} {state.reference}"
    body = table(["LAYER", "STATUS", "BYTES"], transfer_rows(state)) if state.layers else ""
    tail = f"Status: {state.message}" if state.message else ""
    return "\n".join(x for x in (head, body.rstrip("\n"), tail) if x)


def transfer_html(state: TransferState) -> str:
    rows = []
    for layer in state.layers.values():
        total = layer.total or 0
        bar = progress_bar_html(layer.done, total, 160) if total else ""
        amount = f"{human_size(layer.done)}/{human_size(total)}" if total else ""
        rows.append([_E(layer.item), _E(layer.result or "…"), bar, _E(amount)])
    title = f"{state.task} {state.reference}" + (f" — {state.message}" if state.message else "")
    return (
        f'<div><div style="font-family:monospace;font-weight:bold">{_E(title)}</div>'
        + _html_table(["LAYER", "STATUS", "", "BYTES"], rows, raw=True)
        + "</div>"
    )


# -- images ---------------------------------------------------------------------------------------

IMAGE_COLUMNS = ("REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE")


def image_cells(row: ImageRow, now: datetime | None = None) -> list[str]:
    now = now or datetime.now(timezone.utc)
    return [
        row.repository,
        row.tag,
        short_id(row.id),
        since(row.created, now),
        human_size(row.size),
    ]


def images_text(rows: Sequence[ImageRow]) -> str:
    now = datetime.now(timezone.utc)
    return table(list(IMAGE_COLUMNS), [image_cells(r, now) for r in rows]).rstrip("\n")


def images_html(rows: Sequence[ImageRow]) -> str:
    now = datetime.now(timezone.utc)
    return _html_table(IMAGE_COLUMNS, [image_cells(r, now) for r in rows])


def image_text(image: Image) -> str:
    names = ", ".join(r.familiar for r in image.tags) or "<untagged>"
    return f"<Image {short_id(image.id)} {names} {human_size(image.size)}>"


def image_html(image: Image) -> str:
    names = _E(", ".join(r.familiar for r in image.tags) or "<untagged>")
    created = since(image.created)
    layers = len(image.diff_ids)
    return (
        '<div style="font-family:monospace"><b>Image</b> '
        f'<span title="{_E(image.id)}">{short_id(image.id)}</span> — {names}'
        f" — {human_size(image.size)}, {layers} layer{'s' if layers != 1 else ''}, "
        f"created {_E(created)}</div>"
    )


def history_text(entries: Sequence[HistoryEntry]) -> str:
    now = datetime.now(timezone.utc)
    rows = [
        [
            e.image if e.image == "<missing>" else short_id(e.image),
            since(e.created, now),
            truncate(e.created_by.replace("\t", " "), 45),
            human_size(e.size, 3),
            e.comment,
        ]
        for e in entries
    ]
    return table(["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], rows).rstrip("\n")


def history_html(entries: Sequence[HistoryEntry]) -> str:
    now = datetime.now(timezone.utc)
    rows = [
        [
            e.image if e.image == "<missing>" else short_id(e.image),
            since(e.created, now),
            e.created_by,
            human_size(e.size, 3),
            e.comment,
        ]
        for e in entries
    ]
    return _html_table(["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], rows)


# -- layers ---------------------------------------------------------------------------------------


def _files_list(paths: Sequence[str], limit: int) -> str:
    shown = "\n".join(paths[:limit])
    more = f"\n… and {len(paths) - limit} more" if len(paths) > limit else ""
    return shown + more


def layers_text(layers: Sequence[LayerInfo], limit: int = 10) -> str:
    lines = []
    for info in layers:
        lines.append(
            f"layer {info.index}: {human_size(info.size)}  {truncate(info.created_by, 70)}"
            f"  (+{len(info.added)} ~{len(info.changed)} -{len(info.removed)})"
        )
        for mark, paths in (("A", info.added), ("C", info.changed), ("D", info.removed)):
            for path in paths[:limit]:
                lines.append(f"    {mark} {path}")
            if len(paths) > limit:
                lines.append(f"    {mark} … and {len(paths) - limit} more")
    return "\n".join(lines)


def layer_row_html(info: LayerInfo, biggest: int) -> list[str]:
    width = int(200 * info.size / biggest) if biggest else 0
    bar = (
        f'<div style="width:200px;background:#eee"><div style="width:{max(width, 1)}px;'
        'height:10px;background:#268bd2"></div></div>'
    )
    counts = f"+{len(info.added)} ~{len(info.changed)} -{len(info.removed)}"
    return [
        str(info.index),
        bar,
        human_size(info.size),
        f"<code>{_E(info.created_by)}</code>",
        counts,
    ]


def layer_files_html(info: LayerInfo, limit: int = 200) -> str:
    parts = []
    for title, paths, color in (
        ("added", info.added, "#2e7d32"),
        ("changed", info.changed, "#b58900"),
        ("removed", info.removed, "#c62828"),
    ):
        if paths:
            parts.append(
                f'<div style="color:{color}">{title} ({len(paths)})</div>'
                + log_html(_files_list(paths, limit).splitlines())
            )
    return "".join(parts) or "<i>no files</i>"


def layers_html(layers: Sequence[LayerInfo], limit: int = 200) -> str:
    biggest = max((i.size for i in layers), default=0)
    table_html = _html_table(
        ["#", "SIZE", "", "CREATED BY", "FILES +ADDED ~CHANGED -REMOVED"],
        [_reorder(layer_row_html(i, biggest)) for i in layers],
        raw=True,
    )
    details = "".join(
        f"<details><summary>layer {i.index}: {_E(truncate(i.created_by, 80))}</summary>"
        f"{layer_files_html(i, limit)}</details>"
        for i in layers
    )
    return f"<div>{table_html}{details}</div>"


def _reorder(cells: list[str]) -> list[str]:
    index, bar, size, created_by, counts = cells
    return [index, size, bar, created_by, counts]


def mimebundle(text: str, html_text: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {"text/plain": text, "text/html": html_text}
    if extra:
        bundle.update(extra)
    return bundle
