"""The rows of `make bench`'s table, and what every part shares."""

import os
from dataclasses import dataclass

#: BENCH_QUICK=1: a short smoke run.
QUICK = os.environ.get("BENCH_QUICK") == "1"


@dataclass
class Row:
    figure: str
    value: float
    unit: str
    target: str = ""
    #: None: a figure without a target.
    passed: bool | None = None


def table(rows: list[Row]) -> str:
    lines = ["| figure | value | target | result |", "| --- | --- | --- | --- |"]
    for row in rows:
        value = f"{row.value:.3g}" if row.value < 100 else f"{row.value:.0f}"
        result = "" if row.passed is None else ("PASS" if row.passed else "FAIL")
        lines.append(f"| {row.figure} | {value} {row.unit} | {row.target} | {result} |")
    return "\n".join(lines)
