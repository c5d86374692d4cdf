"""Run one sandbox container from a JSON description and print the outcome as JSON.

Used by tests that need a separate process: rootless runs (as a throwaway user, with the
system python) and signal forwarding. It loads ``nbdocker.engine.sandbox`` without executing
the parent packages' ``__init__`` (the system python of a throwaway user may lack the engine's
third-party dependencies; the sandbox uses one, ``pyseccomp``, which the tests copy beside
this script).

argv[1] = repo root, argv[2] = JSON: {"spec": {...SandboxSpec fields...}, "rootfs": "auto",
"stop_timeout": 10, "out": dir for stdout/stderr files}. Prints {"rc", "started", "error"}.
"""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

root = sys.argv[1]
for name, sub in (("nbdocker", "nbdocker"), ("nbdocker.engine", "nbdocker/engine")):
    if name not in sys.modules:
        module = types.ModuleType(name)
        module.__path__ = [os.path.join(root, sub)]
        sys.modules[name] = module

from nbdocker.engine.sandbox import BindMount, SandboxError, SandboxSpec, run  # noqa: E402

job = json.loads(sys.argv[2])
raw = job["spec"]
spec = SandboxSpec(
    layers=tuple(Path(p) for p in raw["layers"]),
    upper=Path(raw["upper"]),
    work=Path(raw["work"]),
    argv=tuple(raw["argv"]),
    env=tuple(raw.get("env", ())),
    cwd=raw.get("cwd", "/"),
    user=raw.get("user", ""),
    hostname=raw.get("hostname", ""),
    network=raw.get("network", "host"),
    mounts=tuple(BindMount(Path(s), t, r) for s, t, r in raw.get("mounts", ())),
)
out_dir = Path(job["out"])
started: list[dict[str, object]] = []
result: dict[str, object] = {}
with open(out_dir / "stdout", "wb") as out, open(out_dir / "stderr", "wb") as err:
    print(json.dumps({"pid": os.getpid()}), flush=True)
    try:
        result["rc"] = run(
            spec,
            stdout=out.fileno(),
            stderr=err.fileno(),
            rootfs=job.get("rootfs", "auto"),
            stop_timeout=job.get("stop_timeout", 10.0),
            on_start=lambda s: started.append(
                {"rootfs": s.rootfs, "rootless": s.rootless, "subids": s.subids}
            ),
        )
    except SandboxError as exc:
        result["error"] = str(exc)
result["started"] = started[0] if started else None
print(json.dumps(result), flush=True)
