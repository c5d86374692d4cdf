"""Sizes, ages and tables read as Docker prints them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from nbdocker.formatting import human_duration, human_size, since, table, truncate


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (999, "999B"),
        (2560, "2.56kB"),
        (11776, "11.78kB"),
        (1_234_567, "1.235MB"),
        (446_700_000, "446.7MB"),
        (1_982_464, "1.982MB"),
        (12_345_678_901, "12.35GB"),
    ],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.2, "Less than a second"),
        (1, "1 second"),
        (17, "17 seconds"),
        (61, "About a minute"),
        (600, "10 minutes"),
        (3600, "About an hour"),
        (36000, "10 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (100 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_since_and_truncate() -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert since(now - timedelta(hours=10), now) == "10 hours ago"
    assert since(None) == "N/A"
    assert truncate("x" * 50, 45) == "x" * 44 + "…"


def test_table_pads_like_docker() -> None:
    out = table(["REPOSITORY", "TAG", "SIZE"], [["ouruser/sinatra", "v2", "1MB"]])
    assert out.splitlines() == [
        "REPOSITORY        TAG       SIZE",
        "ouruser/sinatra   v2        1MB",
    ]
