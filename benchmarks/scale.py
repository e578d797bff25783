"""``msk1model train experiments/scale_1m.yaml`` timed end to end, with its peak memory.

Runs the training command as a user does, in a fresh folder with its own MLflow store, and
prints the wall time and the peak resident memory of the run (the largest of the training
process and of its worker processes, from ``getrusage``), beside issue 13's targets (under 10
minutes, under 4 GiB). Asserts nothing. Run ``.venv/bin/python benchmarks/scale.py [--config
experiments/scale_1m.yaml] [--set KEY=VALUE ...]``; ``make bench`` runs it last.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

from _timing import machine, write

TARGET_S = 600.0
TARGET_GIB = 4.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="experiments/scale_1m.yaml")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--out", default="benchmarks/results/scale.json")
    args = parser.parse_args(argv)
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    script = os.path.join(os.path.dirname(sys.executable), "msk1model")
    sets = [a for o in args.overrides for a in ("--set", o)]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    with tempfile.TemporaryDirectory() as work:
        start = time.perf_counter()
        subprocess.run(
            [script, "train", os.path.join(root, args.config), *sets],
            cwd=work,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - start
    # ru_maxrss of the largest child (KiB on Linux): the training process or one of its workers
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    print(f"machine: {machine()}")
    time_met = "met" if wall < TARGET_S else "NOT met"
    memory_met = "met" if peak_gib < TARGET_GIB else "NOT met"
    print(
        f"msk1model train {args.config}: {wall:.0f} s wall ({wall / 60:.1f} min), peak resident "
        f"memory {peak_gib:.2f} GiB"
    )
    print(
        f"targets: under {TARGET_S / 60:.0f} min ({time_met}), "
        f"under {TARGET_GIB:.0f} GiB ({memory_met})"
    )
    write(args.out, [{"config": args.config, "wall_s": wall, "peak_gib": peak_gib}])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
