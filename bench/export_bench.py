"""Export throughput and peak memory: the CSV and XLSX writers over generated rows.

    python bench/export_bench.py [--rows 1000000]

The rows have the shape of a lead list (id, status, Persian name, source, score,
amount, ISO instant, Jalali date). Each writer streams them into a temporary file;
the script prints rows per second and, measured with tracemalloc in a second pass
over a tenth and over all of the rows, the peak of Python memory, so that memory
which grows with the rows shows as a ratio well above 1. The baseline is the bare
``csv`` module writing the same rows in the same run; ratios are only meaningful
within one run.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

from kpis.csv_export import csv_lines
from kpis.xlsx_export import write_xlsx

HEADER = ("id", "status", "name", "source", "score", "amount", "created", "created_jalali")


def rows(count: int) -> Iterator[tuple[Any, ...]]:
    """The header, then ``count`` lead-like rows."""
    yield HEADER
    for n in range(count):
        yield (
            f"L{n}",
            "qualified",
            "شرکت پمپ‌سازان تهران",
            "=web" if n % 100 == 0 else "web",
            n % 100,
            n * 1000.0,
            "2025-09-24T06:30:00Z",
            "1404/07/02",
        )


def bare_csv(count: int) -> None:
    with tempfile.TemporaryFile("w", encoding="utf-8", newline="") as target:
        csv.writer(target).writerows(rows(count))


def our_csv(count: int) -> None:
    with tempfile.TemporaryFile("w", encoding="utf-8", newline="") as target:
        for line in csv_lines(rows(count)):
            target.write(line)


def our_xlsx(count: int) -> None:
    with tempfile.TemporaryFile() as target:
        write_xlsx(rows(count), target, title="leads", rtl=True)


def timed(run: Callable[[int], None], count: int) -> float:
    start = time.perf_counter()
    run(count)
    return count / (time.perf_counter() - start)


def peak(run: Callable[[int], None], count: int) -> int:
    tracemalloc.start()
    try:
        run(count)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    count = parser.parse_args().rows
    baseline = timed(bare_csv, count)
    print(f"rows: {count:,}")
    print(
        f"{'writer':<12}{'rows/s':>12}{'vs bare csv':>13}{'peak MiB 1/10':>15}{'peak MiB all':>14}"
    )
    for name, run in (("bare csv", bare_csv), ("csv export", our_csv), ("xlsx export", our_xlsx)):
        speed = baseline if run is bare_csv else timed(run, count)
        small, large = peak(run, max(1, count // 10)), peak(run, count)
        print(
            f"{name:<12}{speed:>12,.0f}{speed / baseline:>13.2f}"
            f"{small / 2**20:>15.2f}{large / 2**20:>14.2f}"
        )


if __name__ == "__main__":
    main()
