"""Text and HTML renderings of builds, transfers, images, layers and inspect results.

These are the outputs that outlive the kernel. The live widgets (:mod:`.widgets`) draw their
parts with the same functions while work runs; when it ends, the magics replace the widget by
the static bundle made here (``text/plain`` + ``text/html``), which is what a saved notebook
keeps and what nbconvert, GitHub's preview and a reopened notebook show.

The HTML is self-contained (inline styles, ``<details>`` to fold long parts, no scripts), which
is what nbconvert, GitHub and JupyterLab's sanitizer keep. Every label goes through
:mod:`.translations`.
"""

from __future__ import annotations

import html
import json
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
    FINISHED,
    INTERRUPTED,
    QUEUED,
    RUNNING,
    BuildState,
    RootfsState,
    StepRow,
    TransferState,
)
from .translations import N_, tr, tr_age, tr_reason, tr_status

__all__ = [
    "build_html",
    "build_summary",
    "build_text",
    "full_log_lines",
    "history_html",
    "history_text",
    "image_html",
    "image_text",
    "images_html",
    "images_text",
    "inspect_html",
    "inspect_text",
    "isolation_line",
    "layers_html",
    "layers_text",
    "mimebundle",
    "steps_html",
    "transfer_html",
    "transfer_text",
]

_E = html.escape
_STATE_COLOR = {
    QUEUED: "#888",
    RUNNING: "#b58900",
    CACHED: "#268bd2",
    DONE: "#2e7d32",
    FAILED: "#c62828",
    INTERRUPTED: "#c62828",
}
_STATUS_COLOR = {FINISHED: "#2e7d32", FAILED: "#c62828", INTERRUPTED: "#c62828"}
STATE_LABELS = {
    QUEUED: N_("queued"),
    RUNNING: N_("running"),
    CACHED: N_("cached"),
    DONE: N_("done"),
    FAILED: N_("failed"),
    INTERRUPTED: N_("interrupted"),
}
_TRANSFER_TITLES = {
    "pull": N_("pull {reference}"),
    "push": N_("push {reference}"),
    "import": N_("import {reference}"),
}
_BUSY = {"pull": N_("Downloading"), "push": N_("Pushing"), "import": N_("Reading")}
_STATUS_WORDS = (
    N_("Pull complete"),
    N_("Already exists"),
    N_("Pushed"),
    N_("Layer already exists"),
)
_TABLE = "border-collapse:collapse;font-family:monospace;font-size:12px"
_CELL = "padding:1px 8px;text-align:left;border-bottom:1px solid #eee;vertical-align:top"
_STEP_COLUMNS = (N_("STEP"), N_("STATE"), N_("INSTRUCTION"), N_("TIME"), N_("LAYER"))
LAST_LINES = 20  # of a failed step, shown open under the failure (docker build shows them too)


def short_id(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


def seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}s"


def _size(value: int | None) -> str:
    return "" if value is None else human_size(value)


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]], raw: bool = False) -> str:
    """A plain HTML table with translated headers; cells are escaped unless ``raw``."""
    head = "".join(f'<th style="{_CELL}">{_E(tr(h))}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">{c if raw else _E(c)}</td>' for c in row) + "</tr>"
        for row in rows
    )
    return f'<table style="{_TABLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    return table([tr(h) for h in header], rows).rstrip("\n")


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


def mimebundle(text: str, html_text: str) -> dict[str, Any]:
    """What a static output is: text for terminals and GitHub's diff, HTML for the rest."""
    return {"text/plain": text, "text/html": html_text}


# -- builds ---------------------------------------------------------------------------------------


def _step_state(row: StepRow) -> str:
    color = _STATE_COLOR.get(row.state, "#888")
    return f'<span style="color:{color};font-weight:bold">{_E(state_label(row.state))}</span>'


def state_label(state: str) -> str:
    return tr(STATE_LABELS.get(state, state))


def build_summary(state: BuildState) -> str:
    """One line: building (steps and clock), built (ID, names, time), or where it stopped."""
    if state.status == FINISHED:
        names = ", ".join(state.tags) or tr("untagged")
        return tr(
            "Successfully built {image} ({names}) in {elapsed}",
            image=short_id(state.image_id),
            names=names,
            elapsed=seconds(state.elapsed),
        )
    if state.status in (FAILED, INTERRUPTED):
        row = state.failed_row
        if row is None:
            return tr("Build failed" if state.status == FAILED else "Build interrupted")
        template = (
            "Build failed at step {step}/{total}: {instruction}"
            if state.status == FAILED
            else "Build interrupted at step {step}/{total}: {instruction}"
        )
        return tr(
            template,
            step=row.number,
            total=state.total,
            instruction=truncate(row.instruction, 80),
        )
    return tr(
        "Building… {done}/{total} steps, {elapsed}",
        done=state.completed,
        total=state.total,
        elapsed=seconds(state.elapsed),
    )


def isolation_line(state: BuildState) -> str:
    """``Isolation: <what the level means>`` when steps run weaker than namespaces, else ''.
    (The explanation is the engine's, in English, like its other messages.)"""
    if not state.isolation:
        return ""
    return tr("Isolation: {explanation}", explanation=state.isolation_note)


def build_summary_html(state: BuildState) -> str:
    color = _STATUS_COLOR.get(state.status, "#b58900")
    summary = (
        f'<span style="font-family:monospace;font-weight:bold;color:{color}">'
        f"{_E(build_summary(state))}</span>"
    )
    if state.isolation:
        note = _E(state.isolation_note)
        label = _E(tr("isolation: {level}", level=state.isolation))
        summary += (
            f' <span style="font-family:monospace;color:#b58900" title="{note}">[{label}]</span>'
            f'<div style="font-size:smaller;color:#666">{_E(isolation_line(state))}</div>'
        )
    return summary


def _row_time(row: StepRow) -> str:
    return seconds(row.elapsed) if row.state == RUNNING or row.duration is not None else ""


def _why(row: StepRow) -> str:
    if row.state == CACHED or not row.reason:
        return ""
    return tr("cache miss: {reason}", reason=tr_reason(row.reason))


def steps_html(state: BuildState) -> str:
    rows = []
    for row in state.steps:
        why = _why(row)
        rows.append(
            [
                f"{row.number}/{state.total}",
                _step_state(row),
                f"<code>{_E(truncate(row.instruction, 90))}</code>"
                + (f'<br><small style="color:#888">{_E(why)}</small>' if why else ""),
                _row_time(row),
                _size(row.layer_size) if row.state == DONE else "",
            ]
        )
    return html_table(_STEP_COLUMNS, rows, raw=True)


def full_log_lines(state: BuildState) -> list[str]:
    """The build as Docker's classic text (steps, cache use, output, resulting IDs)."""
    lines: list[str] = []
    for row in state.steps:
        if not row.instruction and row.state == QUEUED:
            continue
        lines.append(
            tr(
                "Step {step}/{total} : {instruction}",
                step=row.number,
                total=state.total,
                instruction=row.instruction,
            )
        )
        if row.state == CACHED:
            lines.append(tr(" ---> Using cache"))
        elif row.reason:
            lines.append(tr(" ---> Cache miss: {reason}", reason=tr_reason(row.reason)))
        lines.extend(row.log)
        if row.image_id and row.state in (DONE, CACHED):
            lines.append(f" ---> {short_id(row.image_id)}")
    if state.output_lines > state.kept_lines:
        lines.append(tr("(first {kept} lines kept)", kept=state.kept_lines))
    return lines


def full_log_title(count: int) -> str:
    return tr("Full log ({count} lines)", count=count)


def failure_lines(state: BuildState) -> list[str]:
    """What a failed step printed last, with its heading (empty when it printed nothing)."""
    row = state.failed_row
    if row is None or not state.last_lines:
        return []
    heading = tr("Last lines of step {step}:", step=row.number)
    return [heading, *state.last_lines[-LAST_LINES:]]


def build_html(state: BuildState) -> str:
    """The build's static output: summary, the failed step's last lines (open), the bar, the
    step table and the full log (folded)."""
    parts = [f"<div>{build_summary_html(state)}</div>"]
    failure = failure_lines(state)
    if failure:
        parts.append(f'<div style="font-family:monospace">{_E(failure[0])}</div>')
        parts.append(log_html(failure[1:]))
    parts.append(progress_bar_html(state.completed, state.total))
    parts.append(steps_html(state))
    full = full_log_lines(state)
    if full:
        parts.append(
            f"<details><summary>{_E(full_log_title(len(full)))}</summary>{log_html(full)}</details>"
        )
    return "<div>" + "".join(parts) + "</div>"


def build_text(state: BuildState) -> str:
    """The build as text: summary, the failed step's last lines, step table, full log."""
    rows = [
        [
            f"{row.number}/{state.total}",
            state_label(row.state),
            truncate(row.instruction, 60),
            _row_time(row),
            _size(row.layer_size) if row.state == DONE else "",
        ]
        for row in state.steps
    ]
    parts = [build_summary(state)]
    if state.isolation:
        parts.append(isolation_line(state))
    failure = failure_lines(state)
    if failure:
        parts.append("\n".join([failure[0], *(f"  | {line}" for line in failure[1:])]))
    parts.append(text_table(_STEP_COLUMNS, rows))
    full = full_log_lines(state)
    if full:
        parts.append("\n".join(full))
    return "\n".join(parts)


# -- pulls, pushes, imports -----------------------------------------------------------------------


def transfer_title(state: TransferState) -> str:
    title = tr(_TRANSFER_TITLES.get(state.task, "{reference}"), reference=state.reference)
    if state.status == FAILED:
        return f"{title} — {tr('failed')}"
    if state.message:
        return f"{title} — {_transfer_message(state)}"
    return f"{title} — {seconds(state.elapsed)}"


def _transfer_message(state: TransferState) -> str:
    if state.task == "import" and state.message.startswith("sha256:"):
        return tr("imported as {image}", image=short_id(state.message))
    return tr_status(state.message)


def _layer_status(state: TransferState, result: str, done: int) -> str:
    if result:
        if state.task == "import" and result.startswith("sha256:"):
            return tr("imported as {image}", image=short_id(result))
        return tr_status(result)
    return tr(_BUSY.get(state.task, "Waiting") if done else "Waiting")


def _amount(done: int, total: int | None) -> str:
    return f"{human_size(done)}/{human_size(total)}" if total else human_size(done)


def transfer_rows(state: TransferState) -> list[list[str]]:
    return [
        [
            layer.item,
            _layer_status(state, layer.result, layer.done),
            _amount(layer.done, layer.total),
        ]
        for layer in state.layers.values()
    ]


def _first_column(state: TransferState) -> str:
    return N_("SOURCE") if state.task == "import" else N_("LAYER")


def transfer_text(state: TransferState) -> str:
    head = transfer_title(state)
    if not state.layers:
        return head
    return (
        head
        + "\n"
        + text_table([_first_column(state), N_("STATUS"), N_("BYTES")], transfer_rows(state))
    )


def transfer_table_html(state: TransferState) -> str:
    rows = []
    for layer in state.layers.values():
        total = layer.total or 0
        bar = progress_bar_html(layer.done, total, 160) if total else ""
        rows.append(
            [
                _E(layer.item),
                _E(_layer_status(state, layer.result, layer.done)),
                bar,
                _E(_amount(layer.done, layer.total)),
            ]
        )
    return html_table([_first_column(state), N_("STATUS"), "", N_("BYTES")], rows, raw=True)


def transfer_title_html(state: TransferState) -> str:
    color = _STATUS_COLOR.get(state.status, "#b58900")
    return (
        f'<div style="font-family:monospace;font-weight:bold;color:{color}">'
        f"{_E(transfer_title(state))}</div>"
    )


def transfer_html(state: TransferState) -> str:
    parts = [transfer_title_html(state)]
    if state.layers:
        parts.append(progress_bar_html(min(state.done_bytes, state.total_bytes), state.total_bytes))
        parts.append(transfer_table_html(state))
    return "<div>" + "".join(parts) + "</div>"


# -- images ---------------------------------------------------------------------------------------

IMAGE_COLUMNS = (N_("REPOSITORY"), N_("TAG"), N_("IMAGE ID"), N_("CREATED"), N_("SIZE"))


def image_cells(row: ImageRow, now: datetime) -> list[str]:
    return [
        row.repository,
        row.tag,
        short_id(row.id),
        tr_age(since(row.created, now)),
        human_size(row.size),
    ]


def images_text(rows: Sequence[ImageRow]) -> str:
    now = datetime.now(timezone.utc)
    return text_table(IMAGE_COLUMNS, [image_cells(r, now) for r in rows])


def images_html(rows: Sequence[ImageRow]) -> str:
    now = datetime.now(timezone.utc)
    return html_table(IMAGE_COLUMNS, [image_cells(r, now) for r in rows])


def _layer_count(count: int) -> str:
    return tr("1 layer") if count == 1 else tr("{count} layers", count=count)


def image_text(image: Image) -> str:
    names = ", ".join(r.familiar for r in image.tags) or "<untagged>"
    return f"<Image {short_id(image.id)} {names} {human_size(image.size)}>"


def image_html(image: Image) -> str:
    names = _E(", ".join(r.familiar for r in image.tags) or "<untagged>")
    created = tr("created {age}", age=tr_age(since(image.created)))
    return (
        f'<div style="font-family:monospace"><b>{_E(tr("Image"))}</b> '
        f'<span title="{_E(image.id)}">{short_id(image.id)}</span> — {names}'
        f" — {human_size(image.size)}, {_E(_layer_count(len(image.diff_ids)))}, "
        f"{_E(created)}</div>"
    )


HISTORY_COLUMNS = (N_("IMAGE"), N_("CREATED"), N_("CREATED BY"), N_("SIZE"), N_("COMMENT"))


def _history_cells(e: HistoryEntry, now: datetime, width: int | None) -> list[str]:
    created_by = e.created_by.replace("\t", " ")
    return [
        e.image if e.image == "<missing>" else short_id(e.image),
        tr_age(since(e.created, now)),
        truncate(created_by, width) if width else created_by,
        human_size(e.size, 3),
        e.comment,
    ]


def history_text(entries: Sequence[HistoryEntry]) -> str:
    now = datetime.now(timezone.utc)
    return text_table(HISTORY_COLUMNS, [_history_cells(e, now, 45) for e in entries])


def history_html(entries: Sequence[HistoryEntry]) -> str:
    now = datetime.now(timezone.utc)
    return html_table(HISTORY_COLUMNS, [_history_cells(e, now, None) for e in entries])


# -- layers ---------------------------------------------------------------------------------------

_LAYER_COLUMNS = ("#", N_("SIZE"), "", N_("CREATED BY"), N_("FILES +ADDED ~CHANGED -REMOVED"))


def _counts(info: LayerInfo) -> str:
    return f"+{len(info.added)} ~{len(info.changed)} -{len(info.removed)}"


def layers_heading(title: str, layers: Sequence[LayerInfo]) -> str:
    total = human_size(sum(i.size for i in layers))
    return f"{title} — " + tr("{count} layers, {size}", count=len(layers), size=total)


def layers_text(title: str, layers: Sequence[LayerInfo], limit: int = 10) -> str:
    lines = [layers_heading(title, layers)]
    for info in layers:
        what = f"{human_size(info.size)}  {truncate(info.created_by, 70)}  ({_counts(info)})"
        lines.append(tr("layer {index}: {created_by}", index=info.index, created_by=what))
        for mark, paths in (("A", info.added), ("C", info.changed), ("D", info.removed)):
            for path in paths[:limit]:
                lines.append(f"    {mark} {path}")
            if len(paths) > limit:
                lines.append(f"    {mark} " + tr("… and {count} more", count=len(paths) - limit))
    return "\n".join(lines)


def _size_bar(info: LayerInfo, biggest: int) -> str:
    width = int(200 * info.size / biggest) if biggest else 0
    return (
        f'<div style="width:200px;background:#eee"><div style="width:{max(width, 1)}px;'
        'height:10px;background:#268bd2"></div></div>'
    )


def _files_html(info: LayerInfo, limit: int) -> str:
    parts = []
    for title, paths, color in (
        ("added ({count})", info.added, "#2e7d32"),
        ("changed ({count})", info.changed, "#b58900"),
        ("removed ({count})", info.removed, "#c62828"),
    ):
        if paths:
            shown = list(paths[:limit])
            if len(paths) > limit:
                shown.append(tr("… and {count} more", count=len(paths) - limit))
            parts.append(
                f'<div style="color:{color}">{_E(tr(title, count=len(paths)))}</div>'
                + log_html(shown)
            )
    return "".join(parts) or f"<i>{_E(tr('no files'))}</i>"


def layers_html(title: str, layers: Sequence[LayerInfo], limit: int = 200) -> str:
    """The layer inspector: a size bar and the instruction per layer, and (unfold a layer)
    the files it added, changed and removed — ``<details>``, so it folds without a kernel."""
    biggest = max((i.size for i in layers), default=0)
    rows = [
        [
            str(i.index),
            human_size(i.size),
            _size_bar(i, biggest),
            f"<code>{_E(i.created_by)}</code>",
            _counts(i),
        ]
        for i in layers
    ]
    details = "".join(
        "<details><summary>"
        + _E(
            tr("layer {index}: {created_by}", index=i.index, created_by=truncate(i.created_by, 80))
        )
        + f"</summary>{_files_html(i, limit)}</details>"
        for i in layers
    )
    heading = f'<div style="font-family:monospace"><b>{_E(layers_heading(title, layers))}</b></div>'
    return f"<div>{heading}{html_table(_LAYER_COLUMNS, rows, raw=True)}{details}</div>"


# -- inspect --------------------------------------------------------------------------------------


def inspect_text(objects: Sequence[dict[str, Any]]) -> str:
    """Docker's ``inspect`` output: a JSON array, indented as ``docker inspect`` prints it."""
    return json.dumps(list(objects), indent=4, ensure_ascii=False, default=str)


def inspect_html(objects: Sequence[dict[str, Any]]) -> str:
    """The same JSON, expanded and readable in a notebook (no collapsed tree to click open)."""
    return (
        '<pre style="font-family:monospace;font-size:12px;line-height:1.35;'
        f'white-space:pre-wrap">{_E(inspect_text(objects), quote=False)}</pre>'
    )


# -- the Debian base (mmdebstrap) -----------------------------------------------------------------


MMDEBSTRAP_PHASES = (  # what mmdebstrap says it is doing (its "I: …" lines), to translate
    N_("automatically chosen mode: root"),
    N_("running apt-get update"),
    N_("downloading packages with apt"),
    N_("extracting archives"),
    N_("installing essential packages"),
    N_("installing remaining packages inside the chroot"),
    N_("cleaning package lists and apt cache"),
    N_("creating tarball"),
    N_("done"),
)


def rootfs_summary(state: RootfsState) -> str:
    """One line: what mmdebstrap is doing and how far it got, or what it made."""
    elapsed = seconds(state.elapsed)
    if state.status == FINISHED:
        return tr(
            "Debian {suite} root filesystem made in {elapsed}: {path} ({size})",
            suite=state.suite,
            elapsed=elapsed,
            path=state.path,
            size=human_size(state.size),
        )
    if state.status == FAILED:
        return tr("mmdebstrap failed after {elapsed}", elapsed=elapsed)
    title = tr(
        "Making a Debian {suite} root filesystem with mmdebstrap ({variant})",
        suite=state.suite,
        variant=state.variant,
    )
    parts = [title, f"{tr(state.phase)}…" if state.phase else ""]
    if state.fetched:
        parts.append(tr("{count} packages fetched", count=state.fetched))
    if state.set_up:
        parts.append(
            tr("{done}/{total} packages set up", done=state.set_up, total=max(state.planned, 1))
        )
    parts.append(elapsed)
    return " — ".join(p for p in parts if p)


def rootfs_html(state: RootfsState) -> str:
    color = _STATUS_COLOR.get(state.status, "#b58900")
    bar = ""
    if state.status == RUNNING and state.planned:
        bar = progress_bar_html(state.set_up, state.planned)
    return (
        f'<div><div style="font-family:monospace;color:{color}">{_E(rootfs_summary(state))}'
        f"</div>{bar}</div>"
    )


def rootfs_text(state: RootfsState) -> str:
    return rootfs_summary(state)
