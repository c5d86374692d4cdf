"""Docker's reference rules: normalisation, familiar forms, and the errors for bad names."""

from __future__ import annotations

import pytest

from nbdocker.engine import InvalidReference, parse_reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "full", "familiar"),
    [
        ("ubuntu", "docker.io/library/ubuntu:latest", "ubuntu:latest"),
        ("ubuntu:14.04", "docker.io/library/ubuntu:14.04", "ubuntu:14.04"),
        ("ouruser/sinatra", "docker.io/ouruser/sinatra:latest", "ouruser/sinatra:latest"),
        ("ouruser/sinatra:v2", "docker.io/ouruser/sinatra:v2", "ouruser/sinatra:v2"),
        ("localhost:5000/x:y", "localhost:5000/x:y", "localhost:5000/x:y"),
        ("localhost/x", "localhost/x:latest", "localhost/x:latest"),
        ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("docker.io/busybox:1", "docker.io/library/busybox:1", "busybox:1"),
        ("quay.io/a/b/c:t_1.2-x", "quay.io/a/b/c:t_1.2-x", "quay.io/a/b/c:t_1.2-x"),
        (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}", f"busybox@{DIGEST}"),
        (f"a/b:t@{DIGEST}", f"docker.io/a/b:t@{DIGEST}", f"a/b:t@{DIGEST}"),
        ("[::1]:5000/x:1", "[::1]:5000/x:1", "[::1]:5000/x:1"),
        (
            "my-registry.example.com:443/team/app",
            "my-registry.example.com:443/team/app:latest",
            "my-registry.example.com:443/team/app:latest",
        ),
    ],
)
def test_normalises_like_docker(text: str, full: str, familiar: str) -> None:
    ref = parse_reference(text)
    assert str(ref) == full
    assert ref.familiar == familiar


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("Ubuntu", "lowercase"),
        ("ouruser/Sinatra:v2", "lowercase"),
        ("ubuntu:", "tag"),
        ("ubuntu:-x", "tag"),
        ("ubuntu:" + "x" * 129, "tag"),
        ("a" * 64, "image ID"),
        ("ubuntu@sha256:abc", "64"),
        ("ubuntu@md5", "digest"),
        ("a//b", "repository name"),
        ("a/b_", "repository name"),
        ("-a", "repository name"),
        ("bad host:5000/x", "registry host"),
        ("x/" + "a" * 260, "255"),
    ],
)
def test_rejects_invalid_names_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidReference) as err:
        parse_reference(text)
    message = str(err.value)
    assert "\n" not in message
    assert reason in message


def test_without_default_tag_keeps_the_tag_empty() -> None:
    assert parse_reference("busybox", default_tag=False).tag is None
