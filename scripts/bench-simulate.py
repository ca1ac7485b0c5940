#!/usr/bin/env python3
"""Offline `simulate` of 3,000 batches with the release binary: wall time and peak memory.

Usage: scripts/bench-simulate.py [BINARY] [RUNS]   (default: target/release/codebuild-retry-gate, 5)

Generates target/bench-history (scripts/make-history.py --random 3000 --indent 0: about 78 MB
of AWS CLI JSON, 15,000 builds included) unless it is there, then runs
`simulate --batches … --builds … --format json` RUNS times under /usr/bin/time and prints the
median and worst wall time and the peak resident memory. Goal: at most 1 s and 200 MiB.
Build first with `cargo build --release`. Not a test: numbers for the notes.
"""
import pathlib
import statistics
import subprocess
import sys

root = pathlib.Path(__file__).resolve().parent.parent
binary = sys.argv[1] if len(sys.argv) > 1 else str(root / "target/release/codebuild-retry-gate")
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
data = root / "target/bench-history"

if not (data / "builds.json").exists():
    subprocess.run([sys.executable, str(root / "scripts/make-history.py"), "--random", "3000",
                    "--indent", "0", str(data)], check=True)
size = sum(f.stat().st_size for f in data.glob("*.json"))

cmd = [binary, "simulate", "--batches", str(data / "batches.json"), "--builds",
       str(data / "builds.json"), "--format", "json"]
walls, rss = [], []
for _ in range(runs):
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M"] + cmd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, check=True)
    wall, kib = out.stderr.strip().splitlines()[-1].split()
    walls.append(float(wall))
    rss.append(int(kib))
report = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True).stdout
import json  # noqa: E402

totals = json.loads(report)["totals"]
print(f"input      {size / 1e6:.1f} MB ({data})")
print(f"replayed   {totals['batches']} batches, {totals['failed_attempts']} failed attempts "
      f"(retry {totals['retry']}, refuse {totals['refuse']})")
print(f"wall       median {statistics.median(walls):.2f} s, worst {max(walls):.2f} s ({runs} runs)")
print(f"peak RSS   {max(rss) / 1024:.0f} MiB (max of {runs} runs)")
