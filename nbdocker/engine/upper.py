"""Layers nbdocker writes itself, streamed into the store: a container's upper dir (``commit``,
the builder's RUN steps) or a COPY step's new entries.

The layer tar is never written to a temp file. As root a thread writes it into a pipe the store
reads; rootless a helper writes it inside the user namespace (:mod:`.userns`), where the files'
owners are the container's ids. Either way the writer also tells the size of the files it
wrote (what ``images`` counts), since the store trusts the tar instead of parsing it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from . import userns
from .errors import NbdockerError, StorageError
from .layers import IngestOptions, ingest_layer
from .store import LayerRecord, Transaction
from .tardiff import write_diff

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
        epoch = [] if source_date_epoch is None else [str(source_date_epoch)]
        return ingest_from_helper(
            txn,
            where,
            compression,
            ("tardiff", "diff", str(upper), *epoch),
            failed=lambda reason: StorageError(
                f"reading the changes of {where} failed in the user namespace: {reason}"
            ),
        )
    return ingest_produced(
        txn,
        where,
        compression,
        lambda out: write_diff(upper, out, source_date_epoch=source_date_epoch),
    )


def ingest_produced(
    txn: Transaction, where: str, compression: str, produce: Callable[[Any], int]
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
    txn: Transaction,
    where: str,
    compression: str,
    command: tuple[str, ...],
    *,
    job: bytes | None = None,
    failed: Callable[[str], NbdockerError],
) -> LayerRecord:
    """Store the layer tar the user-namespace helper ``command`` (module, args…) writes on its
    stdout; ``job`` goes to its stdin. The helper's last words on stderr are ``content-size N``
    on success, else one line saying what failed, which ``failed`` turns into the error."""
    proc = userns.spawn(
        *command,
        stdin=subprocess.PIPE if job is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    if job is not None:
        assert proc.stdin is not None
        with proc.stdin:
            proc.stdin.write(job)
    err: IO[bytes] = proc.stderr

    def last_words() -> str:
        text = err.read().decode(errors="replace")
        err.close()
        lines = text.strip().splitlines()
        return lines[-1] if lines else f"exit status {proc.wait()}"

    def reported_size() -> int:
        words = last_words()
        if words.startswith("content-size "):
            return int(words.split()[1])
        proc.wait()
        raise failed(words)

    try:
        with proc.stdout:
            record = ingest_layer(
                txn, proc.stdout, where, IngestOptions(compression), content_size=reported_size
            )
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if proc.wait() != 0:
        raise failed(f"exit status {proc.returncode}")
    return record
