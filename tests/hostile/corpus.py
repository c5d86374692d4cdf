"""The hostile-input corpus: tarballs, image archives and registry answers made to break
nbdocker, generated here (nothing is checked in). Each case is a name, a function making the
input, and words the one-line error must contain.

- :data:`TAR_MEMBERS` — tar entries no file can be (times, owners, names, devices, depth); each
  is tried through ``import``, ``ADD`` and a build context.
- :data:`LOAD_CASES` — docker-save and OCI archives whose ``manifest.json``, ``index.json``,
  manifests or configs are malformed.
- :data:`PULL_CASES` — what a registry can answer wrongly (served by
  :class:`tests.support.hostile_registry.HostileRegistry`).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "LOAD_CASES",
    "TAR_MEMBERS",
    "Case",
    "archive",
    "digest",
    "docker_archive",
    "member_tar",
    "oci_archive",
]

Member = tuple[str, bytes | None, str | None]  # name, content (None: a symlink), link target


@dataclass(frozen=True)
class Case:
    make: Callable[[], bytes]
    words: str  # what the error line must say


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def archive(members: list[Member]) -> bytes:
    """A PAX tar of regular files and symlinks, in order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.linkname = tarfile.SYMTYPE, link or ""
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def member_tar(
    fields: dict[str, Any] | None = None,
    pax: dict[str, str] | None = None,
    name: str = "etc/hostile",
    fmt: int = tarfile.PAX_FORMAT,
) -> bytes:
    """A tar of a sane directory and then one entry with header ``fields`` and PAX records
    ``pax`` as given (``fmt`` GNU for numbers too large for PAX's ustar part)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        etc = tarfile.TarInfo("etc")
        etc.type, etc.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(etc)
        info = tarfile.TarInfo(name)
        data = b"" if (fields or {}).get("type", tarfile.REGTYPE) != tarfile.REGTYPE else b"x\n"
        info.size = len(data)
        for key, value in (fields or {}).items():
            setattr(info, key, value)
        if pax:
            info.pax_headers = pax
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def sized_entry(size: int) -> bytes:
    """An archive of a ``manifest.json`` and then a GNU header (base-256 numbers) of a file
    claiming ``size`` bytes, negative or huge."""
    manifest = tarfile.TarInfo("manifest.json")
    manifest.size = 2
    claims = tarfile.TarInfo("claims")
    claims.size = size
    return (
        manifest.tobuf(tarfile.GNU_FORMAT)
        + b"[]".ljust(512, b"\0")
        + claims.tobuf(tarfile.GNU_FORMAT)
        + bytes(2 * 512)
    )


def deep_tar(depth: int) -> bytes:
    """A tar of one file ``depth`` directories down."""
    return archive([("d/" * depth + "f", b"deep\n", None)])


TAR_MEMBERS: dict[str, Case] = {
    "mtime nan": Case(lambda: member_tar(pax={"mtime": "nan"}), "modification time nan"),
    "mtime 1e400": Case(lambda: member_tar(pax={"mtime": "1e400"}), "modification time inf"),
    "mtime 1e20": Case(lambda: member_tar(pax={"mtime": "1e20"}), "modification time 1e+20"),
    "mtime -1e20": Case(lambda: member_tar(pax={"mtime": "-1e20"}), "modification time -1e+20"),
    "mtime base-256": Case(
        lambda: member_tar({"mtime": 2**60}, fmt=tarfile.GNU_FORMAT), "modification time"
    ),
    "uid 2**70": Case(lambda: member_tar(pax={"uid": str(2**70)}), "has uid"),
    "uid -1": Case(lambda: member_tar(pax={"uid": "-1"}), "has uid -1"),
    "gid 2**40": Case(lambda: member_tar(pax={"gid": str(2**40)}), "has gid"),
    "uid base-256": Case(lambda: member_tar({"uid": 2**50}, fmt=tarfile.GNU_FORMAT), "has uid"),
    "negative size": Case(lambda: member_tar(pax={"size": "-5"}), "negative size"),
    "NUL in a path": Case(lambda: member_tar(pax={"path": "etc/a\x00b"}), "NUL byte"),
    "NUL in a link target": Case(
        lambda: member_tar({"type": tarfile.SYMTYPE}, {"linkpath": "a\x00b"}), "NUL byte"
    ),
    "300-character name": Case(
        lambda: member_tar(pax={"path": "etc/" + "a" * 300}), "longer than the 255 bytes"
    ),
    "10,000-byte path": Case(
        lambda: member_tar(pax={"path": "/".join(["b" * 250] * 40)}), "is a path of"
    ),
    "5,000-byte link target": Case(
        lambda: member_tar({"type": tarfile.SYMTYPE}, {"linkpath": "x" * 5000}),
        "links to a target longer",
    ),
    "huge device number": Case(
        lambda: member_tar({"type": tarfile.CHRTYPE, "devmajor": 2**40}, fmt=tarfile.GNU_FORMAT),
        "device numbers out of range",
    ),
    "empty link target": Case(
        lambda: member_tar({"type": tarfile.SYMTYPE}, {"linkpath": ""}), "a link to nothing"
    ),
    "600 directories deep": Case(lambda: deep_tar(600), "601 directories deep"),
    "3,000 directories deep": Case(lambda: deep_tar(3000), "3001 directories deep"),
    "climbs out": Case(lambda: archive([("../escape", b"x", None)]), "points outside"),
    "truncated": Case(lambda: member_tar()[:700], "truncated"),
}

# ---------------------------------------------------------------------- image archives

_LAYER = archive([("etc/hello", b"hello\n", None)])


def config(**changes: Any) -> bytes:
    """An image config of :data:`_LAYER`, with ``changes`` over its keys."""
    doc: dict[str, Any] = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [digest(_LAYER)]},
        **changes,
    }
    return json.dumps(doc).encode()


def _json(value: Any) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value).encode()


def docker_archive(manifest: Any = None, config_bytes: bytes | None = None) -> bytes:
    """A docker-save archive of one image; ``manifest`` (default: the right one) may be given
    as bytes or JSON data, ``config_bytes`` replaces the config (its name follows its digest)."""
    cfg = config() if config_bytes is None else config_bytes
    name = digest(cfg)[7:] + ".json"
    if manifest is None:
        manifest = [{"Config": name, "RepoTags": ["hostile:1"], "Layers": ["layer.tar"]}]
    members: list[Member] = [
        ("manifest.json", _json(manifest), None),
        (name, cfg, None),
        ("layer.tar", _LAYER, None),
    ]
    return archive(members)


def _entry(**changes: Any) -> dict[str, Any]:
    return {"Config": digest(config())[7:] + ".json", "Layers": ["layer.tar"], **changes}


def _with_config(**changes: Any) -> Callable[[], bytes]:
    cfg = config(**changes)
    return lambda: docker_archive([_entry(Config=digest(cfg)[7:] + ".json")], cfg)


MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"


def manifest(**changes: Any) -> dict[str, Any]:
    cfg = config()
    return {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": digest(cfg),
            "size": len(cfg),
        },
        "layers": [
            {
                "mediaType": LAYER_TYPE,
                "digest": digest(_LAYER),
                "size": len(_LAYER),
            }
        ],
        **changes,
    }


IndexMaker = Callable[[str, int], Any]  # (manifest digest, size) -> index.json's content


def oci_archive(
    index: IndexMaker | None = None,
    manifest_doc: Any = None,
    extra: dict[str, bytes] | None = None,
) -> bytes:
    """An OCI archive of one image; ``index`` makes index.json from the manifest's digest and
    size, ``manifest_doc`` replaces the manifest, ``extra`` adds blobs by path."""
    cfg = config()
    data = _json(manifest() if manifest_doc is None else manifest_doc)
    if index is None:
        doc: Any = {"schemaVersion": 2, "manifests": [_desc(digest(data), len(data))]}
    else:
        doc = index(digest(data), len(data))
    members: list[Member] = [
        ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}', None),
        ("index.json", _json(doc), None),
        ("blobs/sha256/" + digest(data)[7:], data, None),
        ("blobs/sha256/" + digest(cfg)[7:], cfg, None),
        ("blobs/sha256/" + digest(_LAYER)[7:], _LAYER, None),
    ]
    members += [(path, body, None) for path, body in (extra or {}).items()]
    return archive(members)


def _desc(dgst: str, size: int, **changes: Any) -> dict[str, Any]:
    return {"mediaType": MANIFEST_TYPE, "digest": dgst, "size": size, **changes}


def _index_of(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"schemaVersion": 2, "manifests": list(entries)}


def _nested(entry: dict[str, Any]) -> Callable[[], bytes]:
    """An archive whose index.json points at a nested index holding ``entry``."""
    nested = json.dumps(_index_of(entry)).encode()
    top = {"mediaType": INDEX_TYPE, "digest": digest(nested), "size": len(nested)}
    return lambda: oci_archive(
        lambda d, n: _index_of(top), extra={"blobs/sha256/" + digest(nested)[7:]: nested}
    )


def _self_naming_index() -> bytes:
    """An index blob that names itself as its own nested index (its digest cannot match)."""
    loop = "sha256:" + "1" * 64
    platform = {"os": "linux", "architecture": "amd64"}
    body = json.dumps(
        _index_of({"mediaType": INDEX_TYPE, "digest": loop, "size": 1, "platform": platform})
    ).encode()
    top = {"mediaType": INDEX_TYPE, "digest": loop, "size": len(body)}
    return oci_archive(lambda d, n: _index_of(top), extra={"blobs/sha256/" + "1" * 64: body})


LOAD_CASES: dict[str, Case] = {
    # docker-save archives: manifest.json
    "manifest.json an object": Case(lambda: docker_archive({"a": 1}), "is not a list"),
    "manifest.json not JSON": Case(lambda: docker_archive(b"[{"), "not valid JSON"),
    "manifest.json not UTF-8": Case(lambda: docker_archive(b"\xff\xfe["), "not valid JSON"),
    "entry a string": Case(lambda: docker_archive(["x"]), "without Config and Layers"),
    "entry without Config": Case(
        lambda: docker_archive([{"Layers": ["layer.tar"]}]), "without Config and Layers"
    ),
    "Config a number": Case(
        lambda: docker_archive([_entry(Config=5)]), "without Config and Layers"
    ),
    "Layers a string": Case(
        lambda: docker_archive([_entry(Layers="layer.tar")]), "without Config and Layers"
    ),
    "Layers of numbers": Case(
        lambda: docker_archive([_entry(Layers=[1])]), "without Config and Layers"
    ),
    "RepoTags a string": Case(
        lambda: docker_archive([_entry(RepoTags="a:1")]), "without Config and Layers"
    ),
    "RepoTags not a name": Case(lambda: docker_archive([_entry(RepoTags=["UPPER:x"])]), "UPPER"),
    "Config missing from the archive": Case(
        lambda: docker_archive([_entry(Config="nowhere.json")]), "has no file 'nowhere.json'"
    ),
    "more layers than the config": Case(
        lambda: docker_archive([_entry(Layers=["layer.tar", "layer.tar"])]), "lists 2 layers"
    ),
    "layer not a tar": Case(
        lambda: docker_archive([_entry(Layers=["manifest.json"])]), "not a valid tar"
    ),
    # docker-save archives: the image config
    "config not JSON": Case(
        lambda: docker_archive([_entry(Config=digest(b"{")[7:] + ".json")], b"{"),
        "image config",
    ),
    "config a list": Case(
        lambda: docker_archive([_entry(Config=digest(b"[]")[7:] + ".json")], b"[]"),
        "not a JSON object",
    ),
    "diff_ids a number": Case(
        _with_config(rootfs={"type": "layers", "diff_ids": 5}), "no list rootfs.diff_ids"
    ),
    "diff_id a number": Case(
        _with_config(rootfs={"type": "layers", "diff_ids": [5]}), "its diff_id 1"
    ),
    "created a number": Case(_with_config(created=5), "'created' has the wrong type"),
    "config a string": Case(_with_config(config="x"), "'config' has the wrong type"),
    "Env a string": Case(_with_config(config={"Env": "x"}), "'config.Env' has the wrong type"),
    "Cmd of numbers": Case(_with_config(config={"Cmd": [1]}), "'config.Cmd' has the wrong type"),
    "Labels of numbers": Case(
        _with_config(config={"Labels": {"a": 1}}), "'config.Labels' has the wrong type"
    ),
    "history a string": Case(_with_config(history="x"), "'history' has the wrong type"),
    "history of numbers": Case(_with_config(history=[1]), "history entry 1"),
    # OCI archives: index.json
    "index.json a list": Case(lambda: oci_archive(lambda d, n: []), "not a JSON object"),
    "index.json not JSON": Case(lambda: oci_archive(lambda d, n: b"{"), "not valid JSON"),
    "index without manifests": Case(lambda: oci_archive(lambda d, n: {}), "no list of manifests"),
    "manifests an object": Case(
        lambda: oci_archive(lambda d, n: {"manifests": {}}), "no list of manifests"
    ),
    "index entry a string": Case(
        lambda: oci_archive(lambda d, n: _index_of("x")),  # type: ignore[arg-type]
        "its entry 1 is not a JSON object",
    ),
    "index digest malformed": Case(
        lambda: oci_archive(lambda d, n: _index_of(_desc("sha256:../../index.json", n))),
        "not of the form sha256",
    ),
    "index size a string": Case(
        lambda: oci_archive(lambda d, n: _index_of(_desc(d, str(n)))),  # type: ignore[arg-type]
        "has no valid size",
    ),
    "annotations a string": Case(
        lambda: oci_archive(lambda d, n: _index_of(_desc(d, n, annotations="x"))),
        "annotations that are not a map",
    ),
    "ref name a number": Case(
        lambda: oci_archive(
            lambda d, n: _index_of(
                _desc(d, n, annotations={"org.opencontainers.image.ref.name": 5})
            )
        ),
        "annotations that are not a map",
    ),
    "nested platform a string": Case(
        _nested(_desc("sha256:" + "0" * 64, 1, platform="linux")), "platform without os"
    ),
    "nested index naming itself": Case(_self_naming_index, "does not match its content"),
    # OCI archives: the manifest
    "manifest blob not JSON": Case(lambda: oci_archive(manifest_doc=b"{"), "is broken"),
    "manifest a list": Case(lambda: oci_archive(manifest_doc=[]), "not a JSON object"),
    "manifest without config": Case(
        lambda: oci_archive(manifest_doc={"layers": []}), "config descriptor is not"
    ),
    "manifest layers an object": Case(
        lambda: oci_archive(manifest_doc=manifest(layers={})), "no list of layers"
    ),
    "layer digest md5": Case(
        lambda: oci_archive(
            manifest_doc=manifest(layers=[{"mediaType": LAYER_TYPE, "digest": "md5:0", "size": 1}])
        ),
        "not of the form sha256",
    ),
    "layer size a string": Case(
        lambda: oci_archive(
            manifest_doc=manifest(
                layers=[{"mediaType": LAYER_TYPE, "digest": digest(_LAYER), "size": "1"}]
            )
        ),
        "has no valid size",
    ),
    "layer of an unknown media type": Case(
        lambda: oci_archive(
            manifest_doc=manifest(
                layers=[
                    {
                        "mediaType": "application/x-not-a-layer",
                        "digest": digest(_LAYER),
                        "size": len(_LAYER),
                    }
                ]
            )
        ),
        "not a layer nbdocker can unpack",
    ),
    "layer size disagrees": Case(
        lambda: oci_archive(
            manifest_doc=manifest(
                layers=[
                    {"mediaType": LAYER_TYPE, "digest": digest(_LAYER), "size": len(_LAYER) + 1}
                ]
            )
        ),
        "but its descriptor says",
    ),
    "manifest digest mismatch": Case(
        lambda: oci_archive(
            lambda d, n: _index_of(_desc("sha256:" + "2" * 64, n)),
            extra={"blobs/sha256/" + "2" * 64: b"{}"},
        ),
        "does not match its content",
    ),
    # symlink loops (manifest.json pointing round)
    "manifest.json a link to itself": Case(
        lambda: archive([("manifest.json", None, "manifest.json")]), "symbolic link loop"
    ),
    "manifest.json links round two": Case(
        lambda: archive([("manifest.json", None, "a"), ("a", None, "manifest.json")]),
        "symbolic link loop",
    ),
    # an entry whose size sends tarfile back (for ever) or past what a seek reaches
    "an entry of negative size": Case(
        lambda: sized_entry(-1024),
        "claims -1024 bytes",
    ),
    "an entry of 2**80 bytes": Case(
        lambda: sized_entry(2**80),
        "which the archive does not hold",
    ),
    # a hostile entry inside a layer
    "layer entry with a NaN time": Case(
        lambda: archive(
            [
                ("manifest.json", json.dumps([_entry()]).encode(), None),
                (digest(config())[7:] + ".json", config(), None),
                ("layer.tar", member_tar(pax={"mtime": "nan"}), None),
            ]
        ),
        "modification time nan",
    ),
}
