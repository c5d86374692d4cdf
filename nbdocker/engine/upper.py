"""A container's upper dir (its changes, overlay form) streamed into the store as one layer.

Shared by ``commit`` and the builder's RUN/COPY steps. As root the layer tar is written by a
thread into a pipe the store reads (no temp copy); rootless it is written inside the user
namespace (:mod:`.userns`), where the files' owners are the container's ids.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import threading
from pathlib import Path

from . import userns
from .errors import StorageError
from .layers import IngestOptions, ingest_layer
from .store import LayerRecord, Transaction
from .tardiff import write_diff

__all__ = ["ingest_upper"]


def ingest_upper(
    txn: Transaction,
    upper: Path,
    where: str,
    compression: str,
    source_date_epoch: int | None = None,
) -> LayerRecord:
    """Store ``upper`` as a layer of ``txn``; ``source_date_epoch`` clamps file times."""
    options = IngestOptions(compression=compression)
    if userns.needed():
        args = ["diff", str(upper)]
        if source_date_epoch is not None:
            args.append(str(source_date_epoch))
        proc = userns.spawn("tardiff", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        err = proc.stderr

        def reported_size() -> int:  # the helper's last words: "content-size N"
            text = err.read().decode(errors="replace")
            err.close()
            for line in text.splitlines():
                if line.startswith("content-size "):
                    return int(line.split()[1])
            proc.wait()
            raise StorageError(
                f"reading the changes of {where} failed in the user namespace: "
                f"{text.strip().splitlines()[-1] if text.strip() else 'no size'}"
            )

        with proc.stdout:
            record = ingest_layer(txn, proc.stdout, where, options, content_size=reported_size)
        if proc.wait() != 0:
            raise StorageError(f"reading the changes of {where} failed in the user namespace")
        return record
    read_fd, write_fd = os.pipe()
    with contextlib.suppress(OSError):  # fewer, larger reads through the pipe
        fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, 1 << 20)
    failure: list[BaseException] = []
    size: list[int] = []

    def produce() -> None:
        try:
            with os.fdopen(write_fd, "wb") as sink:
                size.append(write_diff(upper, sink, source_date_epoch=source_date_epoch))
        except BaseException as exc:  # re-raised by the consumer below
            failure.append(exc)

    def content_size() -> int:
        thread.join()
        if failure:
            raise failure[0]
        return size[0]

    thread = threading.Thread(target=produce, name="layer-diff", daemon=True)
    thread.start()
    try:
        with os.fdopen(read_fd, "rb") as source:
            record = ingest_layer(txn, source, where, options, content_size=content_size)
    finally:
        thread.join()
    if failure:
        raise failure[0]
    return record
