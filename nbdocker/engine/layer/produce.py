"""Layers the engine writes itself, streamed into the store: a container's upper dir
(``commit``, the builder's RUN steps) or a COPY step's new entries.

The layer tar is never written to a temp file. As root a thread writes it into a pipe the store
reads; rootless a helper writes it inside the user namespace (:mod:`nbdocker.engine.userns`),
where the files' owners are the container's ids. Either way the writer also tells the size of
the files it wrote (what ``images`` counts), since the store trusts the tar instead of parsing
it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from .. import userns
from ..store import LayerRecord, Transaction
from .diff import DiffRequest, write_diff
from .ingest import IngestOptions, ingest_layer

if TYPE_CHECKING:
    from ..chunks import Sink

__all__ = ["ingest_from_helper", "ingest_produced", "ingest_upper"]


def ingest_upper(
    txn: Transaction,
    upper: Path,
    where: str,
    compression: str,
    source_date_epoch: int | None = None,
) -> LayerRecord:
    """Store ``upper`` as a layer of ``txn``; ``source_date_epoch`` clamps file times."""
    if userns.needed():
        request: DiffRequest = {"upper": str(upper), "source_date_epoch": source_date_epoch}
        what = f"reading the changes of {where}"
        helper = userns.start("diff", request, what=what, stdout=True)
        return ingest_from_helper(txn, where, compression, helper)
    return ingest_produced(
        txn,
        where,
        compression,
        lambda out: write_diff(upper, out, source_date_epoch=source_date_epoch),
    )


def ingest_produced(
    txn: Transaction, where: str, compression: str, produce: Callable[[Sink], int]
) -> LayerRecord:
    """Store the layer tar ``produce(out)`` writes (it returns the size of the files in it).

    ``produce`` runs in a thread so that compressing and hashing overlap with reading the
    files; what it raises is raised here, and the transaction then keeps nothing."""
    read_fd, write_fd = os.pipe()
    with contextlib.suppress(OSError):  # fewer, larger reads through the pipe
        fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, 1 << 20)
    failure: list[BaseException] = []
    size: list[int] = []

    def run() -> None:
        try:
            with os.fdopen(write_fd, "wb") as sink:
                size.append(produce(sink))
        except BaseException as exc:  # re-raised by the consumer below
            failure.append(exc)

    def content_size() -> int:
        thread.join()
        if failure:
            raise failure[0]
        return size[0]

    thread = threading.Thread(target=run, name="layer-writer", daemon=True)
    thread.start()
    try:
        with os.fdopen(read_fd, "rb") as source:
            record = ingest_layer(
                txn, source, where, IngestOptions(compression), content_size=content_size
            )
    finally:
        thread.join()
    if failure:
        raise failure[0]
    return record


def ingest_from_helper(
    txn: Transaction, where: str, compression: str, helper: userns.Helper
) -> LayerRecord:
    """Store the layer tar a user-namespace helper writes on its stdout; its reply gives the
    size of the files in it, or the failure (raised here, and the transaction keeps nothing)."""
    assert helper.stdout is not None
    try:
        with helper.stdout:
            record = ingest_layer(
                txn,
                helper.stdout,
                where,
                IngestOptions(compression),
                content_size=lambda: cast(int, helper.reply()["content_size"]),
            )
    except BaseException:
        helper.kill()
        raise
    return record
