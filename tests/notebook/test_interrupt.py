"""Interrupting the kernel during a %%dockerfile build, with a real ipykernel."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

from nbdocker.engine import Engine

from .kernel import WIDGET_VIEW, execute, final_outputs, kernel, text_of

DOCKERFILE = """%%dockerfile -t ouruser/slow:1
FROM nbdtest/base:1
RUN echo first > /first
RUN echo started; sleep 8; echo slept-$((40+2))
RUN echo never
"""


def test_interrupt_stops_the_step_at_once_and_says_interrupted(
    nbdocker_home: Path, busybox_tarball: Path, tmp_path: Path
) -> None:
    Engine(nbdocker_home).import_image(busybox_tarball, "nbdtest/base:1", change=['CMD ["sh"]'])
    with kernel(nbdocker_home, tmp_path) as (km, kc):
        assert execute(kc, "%load_ext nbdocker")["reply"]["status"] == "ok"
        started = threading.Event()
        seen: list[str] = []

        def watch(msg: dict[str, Any]) -> None:
            seen.append(json.dumps(msg["content"]))
            if msg["msg_type"] == "comm_msg" and "started" in seen[-1] and "sleep 8" in seen[-1]:
                started.set()

        def interrupt() -> None:
            assert started.wait(60), "the slow step never started"
            time.sleep(1.0)
            km.interrupt_kernel()

        thread = threading.Thread(target=interrupt)
        thread.start()
        result = execute(kc, DOCKERFILE, timeout=90, on_output=watch)
        thread.join()
        # A shell as PID 1 ignores SIGINT: had the step been given the container's stop grace
        # period, its sleep would have ended and it would have printed this.
        assert not any("slept-42" in s for s in seen)
        reply = result["reply"]
        assert reply["status"] == "error" and reply["ename"] == "BuildInterrupted", reply
        assert len(reply["traceback"]) == 1
        assert "build interrupted at step 3 (RUN echo started; sleep 8" in reply["traceback"][0]
        # what the cell keeps: the build's static output, saying where it was interrupted
        [shown] = [o for o in final_outputs(result["outputs"]) if o["output_type"] != "error"]
        assert WIDGET_VIEW not in shown["data"]
        assert "Build interrupted at step 3/4" in shown["data"]["text/html"]
        assert re.search(r"\n3/4 +interrupted ", shown["data"]["text/plain"])  # the step's row

        # nothing tagged, no container left running
        engine = Engine(nbdocker_home)
        assert not engine.images("ouruser/slow")
        assert not engine.ps()

        # the kernel is alive, and a rebuild reuses the steps before the interrupted one
        check = execute(kc, DOCKERFILE.replace("sleep 8", "sleep 0"), timeout=90)
        assert check["reply"]["status"] == "ok", text_of(check["outputs"])
        states = execute(
            kc,
            "m = get_ipython().magics_manager.registry['NbdockerMagics']\n"
            "print([r.state for r in m.last_progress.rows])",
        )
        assert "['done', 'cached', 'done', 'done']" in text_of(states["outputs"])
        assert engine.images("ouruser/slow")
