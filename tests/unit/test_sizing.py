"""docs/sizing.md's figures follow the sizing model (tests/testbed/sizing.py)."""

import re
from datetime import timedelta
from pathlib import Path

import pytest

from tests.testbed.sizing import largest_burst, margin, ready_after, renewal_interval, steady_calls_per_second

SIZING = Path(__file__).resolve().parents[2] / "docs" / "sizing.md"
LIFETIMES = {
    "1 hour": timedelta(hours=1),
    "1 hour (the default)": timedelta(hours=1),
    "10 minutes": timedelta(minutes=10),
}
LEAST_MARGIN = 300.0


def table(heading: str) -> list[list[str]]:
    """The body rows of the table whose header line starts with heading."""
    lines = SIZING.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def number(text: str) -> float:
    return float(re.search(r"[\d,.]+", text).group(0).replace(",", ""))  # type: ignore[union-attr]


def test_the_renewal_intervals_and_margins_the_page_states() -> None:
    assert renewal_interval(timedelta(hours=1)) == 48 * 60
    assert margin(timedelta(hours=1)) == 720
    assert renewal_interval(timedelta(minutes=10)) == margin(timedelta(minutes=10)) == LEAST_MARGIN


def test_the_ready_pace_of_the_real_metacontroller_follows_from_3_calls_an_import() -> None:
    # tests/testbed/burst.py REAL_READY: 300 in 179 s at the defaults, 1,000 in 61 s at the recommended flags.
    assert ready_after(300, 5, 10) == pytest.approx(179, rel=0.05)
    assert ready_after(1000, 50, 100) == pytest.approx(61, rel=0.06)


def test_the_sizing_table_follows_the_model() -> None:
    rows = table("| imports | token lifetime |")
    assert len(rows) == 3
    for imports, lifetime, steady, burst, flags in rows:
        qps = number(flags.split("--client-go-qps=")[1])
        computed = steady_calls_per_second(int(number(imports)), LIFETIMES[lifetime])
        assert round(computed) == number(steady), (imports, lifetime, computed)
        assert number(burst) == largest_burst(qps, round(computed), LEAST_MARGIN), (imports, lifetime, burst)
