"""The OCI layer format, once: whiteouts and opaque directories, the merged view, the tar stream,
unpacking, diffing, compression, and layers into and out of the store.

- :mod:`.overlay` — the spec's terms (``.wh.``, ``.wh..wh..opq``) and the overlay form on disk.
- :mod:`.view` — the merged, read-only view of overlay directories; confined symlink walks.
- :mod:`.tarstream` — the fast tar reader and writer every layer goes through.
- :mod:`.unpacking` / :mod:`.diff` — layer tar → overlay directory, and upper dir → layer tar.
- :mod:`.container_fs` — a container's file system from outside: ``diff`` and ``export``.
- :mod:`.compression` — gzip (ISA-L), zstd, bzip2, xz: detected, undone, applied.
- :mod:`.ingest` / :mod:`.produce` — layer tars into the store (verbatim, normalised, or
  written by the engine itself), hashed and compressed as they stream.
- :mod:`.unpacked` — unpacked layers by chain ID, ready to be overlay lower dirs.

Untrusted names from a tar are cleaned and confined (:func:`.unpacking.clean_name`); a failed unpack
leaves nothing behind. Rootless, unpacking, diffing and reading happen inside the user namespace
(:mod:`nbdocker.engine.userns`), through the ``serve_*`` operations of these modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .compression import Peekable, compressed_writer, decompressed, detect_compression
    from .container_fs import (
        Change,
        changes,
        changes_in_userns,
        export_in_userns,
        export_tar,
        serve_changes,
        serve_export,
    )
    from .diff import serve_diff, write_diff
    from .ingest import IngestOptions, ingest_compressed_layer, ingest_layer
    from .produce import ingest_from_helper, ingest_produced, ingest_upper
    from .tarstream import BadMember, check_member
    from .unpacked import LayerCache, UnpackBatch, chain_ids
    from .unpacking import (
        UnsafeLayer,
        clean_name,
        parent_dir,
        serve_remove,
        serve_unpack,
        unpack,
        unpack_in_userns,
    )
    from .view import LinkLoop, LowerView, resolve_under

__all__ = [
    "BadMember",
    "Change",
    "IngestOptions",
    "LayerCache",
    "LinkLoop",
    "LowerView",
    "Peekable",
    "UnpackBatch",
    "UnsafeLayer",
    "chain_ids",
    "changes",
    "check_member",
    "changes_in_userns",
    "clean_name",
    "compressed_writer",
    "decompressed",
    "detect_compression",
    "export_in_userns",
    "export_tar",
    "ingest_compressed_layer",
    "ingest_from_helper",
    "ingest_layer",
    "ingest_produced",
    "ingest_upper",
    "parent_dir",
    "resolve_under",
    "serve_changes",
    "serve_diff",
    "serve_export",
    "serve_remove",
    "serve_unpack",
    "unpack",
    "unpack_in_userns",
    "write_diff",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BadMember": ".tarstream",
        "Change": ".container_fs",
        "IngestOptions": ".ingest",
        "LayerCache": ".unpacked",
        "LinkLoop": ".view",
        "LowerView": ".view",
        "Peekable": ".compression",
        "UnpackBatch": ".unpacked",
        "UnsafeLayer": ".unpacking",
        "chain_ids": ".unpacked",
        "changes": ".container_fs",
        "changes_in_userns": ".container_fs",
        "check_member": ".tarstream",
        "clean_name": ".unpacking",
        "compressed_writer": ".compression",
        "decompressed": ".compression",
        "detect_compression": ".compression",
        "export_in_userns": ".container_fs",
        "export_tar": ".container_fs",
        "ingest_compressed_layer": ".ingest",
        "ingest_from_helper": ".produce",
        "ingest_layer": ".ingest",
        "ingest_produced": ".produce",
        "ingest_upper": ".produce",
        "parent_dir": ".unpacking",
        "resolve_under": ".view",
        "serve_changes": ".container_fs",
        "serve_diff": ".diff",
        "serve_export": ".container_fs",
        "serve_remove": ".unpacking",
        "serve_unpack": ".unpacking",
        "unpack": ".unpacking",
        "unpack_in_userns": ".unpacking",
        "write_diff": ".diff",
    },
)
