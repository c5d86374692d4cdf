"""The final image equals what real ``docker build`` makes: config and file tree."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support import DOCKER_CONFIG_KEYS, RunNbdocker
from tests.support.dockerd import DockerEngine
from tests.support.trees import tree_of_docker_archive, tree_of_export

from .conftest import BASE, write_context

CASES: dict[str, dict[str, str | bytes]] = {
    "stages": {
        "Dockerfile": (
            f"FROM {BASE} AS build\nRUN mkdir -p /out/bin && echo built > /out/bin/tool && "
            "chmod 750 /out/bin/tool\n"
            f"FROM --platform=linux/amd64 {BASE} AS unused\nRUN true\n"
            f"FROM {BASE}\nRUN echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd && "
            "echo 'app:x:1000:' >> /etc/group\n"
            "COPY --from=build /out /opt/\nCOPY --from=build --chown=app:app /out/bin/tool "
            '/home/app/tool\nUSER app\nWORKDIR /home/app\nCMD ["./tool"]\n'
        ),
    },
    "config": {
        "Dockerfile": (
            f'FROM {BASE}\nMAINTAINER someone <a@b.c>\nLABEL a=1 "b c"="d e"\nLABEL old value\n'
            'ENV A=1 B="two words"\nENV C $A-x\nEXPOSE 80 53/udp 8080/tcp\n'
            'VOLUME /data ["/other"]\nUSER nobody\nWORKDIR /srv\nWORKDIR app\nSTOPSIGNAL SIGTERM\n'
            "HEALTHCHECK --interval=5s --timeout=3s --retries=2 CMD wget -q localhost || exit 1\n"
            'ONBUILD RUN echo child\nENTRYPOINT ["/bin/sh", "-c"]\nCMD ["echo hi"]\n'
        )
    },
    "shell-and-args": {
        "Dockerfile": (
            "ARG TAG=1\n"
            'FROM nbdtest/base:$TAG\nARG WHO=world\nARG TAG\nSHELL ["/bin/sh", "-e", "-c"]\n'
            'RUN echo "hello $WHO $TAG" > /greeting\nENV PATH=/opt/bin:$PATH\n'
            "RUN mkdir -p /opt/bin && printf '#!/bin/sh\\necho tool' > /opt/bin/tool && "
            "chmod 755 /opt/bin/tool\nENTRYPOINT echo entry\n"
        )
    },
    "files": {
        "Dockerfile": (
            f"FROM {BASE}\nRUN rm /bin/ls && rm -rf /root && mkdir -p /data/sub\n"
            "COPY app /srv/app\nCOPY *.txt /txt/\nCOPY --chown=65534:65534 one.txt /owned.txt\n"
            "ADD archive.tar /unpacked/\n"
            "RUN mkdir -p /usr/bin && ln -s /srv/app/main.sh /usr/bin/app && "
            "ln /txt/one.txt /hard && chmod 4755 /srv/app/main.sh\n"
            "RUN rm -rf /data && mkdir /data && echo fresh > /data/new\n"
            "WORKDIR /made/by/workdir\n"
        ),
        "app/main.sh": "#!/bin/sh\necho app\n",
        "app/lib/util.sh": "echo util\n",
        "one.txt": "one\n",
        "two.txt": "two\n",
        ".dockerignore": "ignored.txt\n",
        "ignored.txt": "never copied\n",
    },
}


def _archive_bytes(tmp: Path) -> bytes:
    src = tmp / "archive-src"
    (src / "inner").mkdir(parents=True)
    (src / "inner" / "f").write_text("from archive\n")
    out = tmp / "archive.tar"
    subprocess.run(
        ["tar", "-C", str(src), "--owner=0", "--group=0", "-cf", str(out), "."], check=True
    )
    return out.read_bytes()


@pytest.mark.docker
@pytest.mark.parametrize("case", sorted(CASES))
def test_same_image_as_docker_build(
    nbdocker: RunNbdocker,
    docker_engine: DockerEngine,
    busybox_tarball: Path,
    base: str,
    tmp_path: Path,
    case: str,
) -> None:
    files = dict(CASES[case])
    if case == "files":
        files["archive.tar"] = _archive_bytes(tmp_path)
    ctx = write_context(tmp_path / "ctx", files)
    docker_engine.run("import", "-c", 'CMD ["/bin/sh"]', busybox_tarball, BASE)
    docker_engine.run("build", "--network", "host", "-t", f"parity/{case}", ctx)
    built = nbdocker("build", "-t", f"parity/{case}:nb", ctx)
    assert built.returncode == 0, built.stderr.decode() + built.stdout.decode()

    [theirs] = json.loads(docker_engine.run("inspect", f"parity/{case}").stdout)
    [ours] = json.loads(nbdocker("inspect", f"parity/{case}:nb").stdout)
    for key in DOCKER_CONFIG_KEYS:
        assert ours["Config"].get(key) == theirs["Config"].get(key), key
    assert ours["Author"] == theirs["Author"]

    archive = tmp_path / "ours.tar"
    assert nbdocker("save", "-o", archive, f"parity/{case}:nb").returncode == 0
    our_tree = tree_of_docker_archive(archive)[f"parity/{case}:nb"]
    cid = docker_engine.run("create", "--network", "none", f"parity/{case}", "true").stdout.strip()
    try:
        their_tree = tree_of_export(docker_engine.run("export", cid, text=False).stdout)
    finally:
        docker_engine.run("rm", cid)
    assert our_tree == their_tree
    # and Docker runs what nbdocker built
    docker_engine.run("load", "-i", archive)
    docker_engine.run(
        "run", "--rm", "--network", "none", "--entrypoint", "true", f"parity/{case}:nb"
    )
