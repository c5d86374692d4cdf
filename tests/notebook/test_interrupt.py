"""Interrupting the kernel during a %%dockerfile build, with a real ipykernel."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from nbdocker.engine import Engine

from .kernel import execute, kernel, text_of

DOCKERFILE = """%%dockerfile -t ouruser/slow:1
FROM nbdtest/base:1
RUN echo first > /first
RUN echo started; sleep 30
RUN echo never
"""


def test_interrupt_stops_the_build_cleanly(
    nbdocker_home: Path, busybox_tarball: Path, tmp_path: Path
) -> None:
    Engine(nbdocker_home).import_image(busybox_tarball, "nbdtest/base:1", change=['CMD ["sh"]'])
    with kernel(nbdocker_home, tmp_path) as (km, kc):
        assert execute(kc, "%load_ext nbdocker")["reply"]["status"] == "ok"
        started = threading.Event()

        def watch(msg: dict[str, Any]) -> None:
            if "started" in str(msg["content"]) and "sleep 30" in str(msg["content"]):
                started.set()

        def interrupt() -> None:
            assert started.wait(60), "the slow step never started"
            time.sleep(1.0)
            km.interrupt_kernel()

        t0 = time.monotonic()
        thread = threading.Thread(target=interrupt)
        thread.start()
        result = execute(kc, DOCKERFILE, timeout=90, on_output=watch)
        thread.join()
        assert time.monotonic() - t0 < 25, "the interrupt did not stop the sleep"
        reply = result["reply"]
        assert reply["status"] == "error"
        assert reply["ename"] == "BuildInterrupted", reply
        assert (
            len(reply["traceback"]) == 1 and "build interrupted at step 3" in reply["traceback"][0]
        )
        text = text_of(result["outputs"])
        assert "interrupted" in text
        # the saved rendering of the widget shows the interrupted build
        updates = [m for m in result["outputs"] if m["msg_type"] == "update_display_data"]
        assert updates and "Build interrupted" in updates[-1]["content"]["data"]["text/html"]

        # nothing tagged, no container left running
        engine = Engine(nbdocker_home)
        assert not engine.images("ouruser/slow")
        assert not engine.ps()

        # the kernel is alive, and a rebuild reuses the steps before the interrupted one
        check = execute(kc, DOCKERFILE.replace("sleep 30", "sleep 0"), timeout=90)
        assert check["reply"]["status"] == "ok", text_of(check["outputs"])
        states = execute(
            kc,
            "m = get_ipython().magics_manager.registry['NbdockerMagics']\n"
            "print([r.state for r in m.last_progress.rows])",
        )
        assert "['done', 'cached', 'done', 'done']" in text_of(states["outputs"])
        assert engine.images("ouruser/slow")
