"""What every benchmark script shares: median wall time, peak memory, the machine, the output."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def median_time(call: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time (seconds) of ``repeats`` calls, and the last call's value."""
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def peak_mib(call: Callable[[], Any]) -> float:
    """Peak traced memory of one call (tracemalloc: numpy's allocations included), MiB."""
    tracemalloc.start()
    call()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def machine() -> dict[str, Any]:
    return {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }


def ratio(row: dict[str, Any], peer: str, ours: str) -> str:
    """``peer / ours`` as ``"12x"``, or ``"not run"`` when the peer was skipped."""
    if peer not in row:
        return "not run"
    return f"{row[peer] / row[ours]:.0f}x"


def write(path: str, rows: list[dict[str, Any]]) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=1) + "\n")
    print(f"written: {out}")


def run(
    doc: str,
    measure: Callable[[int, int, int], dict[str, Any]],
    show: Callable[[list[dict[str, Any]]], None],
    *,
    peer_limit: int,
    out: str,
    argv: list[str] | None = None,
) -> int:
    """A benchmark's command line: ``--sizes``, ``--repeats``, ``--peer-limit``, ``--out``; one
    row of ``measure(n, repeats, peer_limit)`` per size, shown and written."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer-limit", type=int, default=peer_limit)
    parser.add_argument("--out", default=out)
    args = parser.parse_args(argv)
    rows = [measure(int(n), args.repeats, args.peer_limit) for n in args.sizes.split(",")]
    show(rows)
    write(args.out, rows)
    return 0
