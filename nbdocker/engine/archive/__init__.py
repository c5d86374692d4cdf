"""Image archives: what ``docker save`` writes and ``docker load`` reads, and OCI archives.

``save --format docker`` writes Docker's combined form: ``manifest.json`` and ``repositories``
(read by every ``docker load``), plus ``oci-layout`` and ``index.json`` over the same
``blobs/sha256/`` files (read by Docker ≥ 25 and OCI tools). Layers go in uncompressed, named by
their diffID, as Docker writes them. ``--format oci`` writes an OCI image layout with the layers
as the store keeps them (compressed). (:mod:`.save`)

Loading accepts both docker forms (the older ``<id>/layer.tar`` one and the OCI-layout-based
one) and OCI archives (skopeo, buildah). Every config and layer is checked against its digest
before it enters the store. (:mod:`.load`)

:mod:`.download` streams a tarball from a URL, for ``import``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .download import open_url
    from .load import LoadedImage, read_archive
    from .save import write_archive

__all__ = ["LoadedImage", "open_url", "read_archive", "write_archive"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "LoadedImage": ".load",
        "open_url": ".download",
        "read_archive": ".load",
        "write_archive": ".save",
    },
)
