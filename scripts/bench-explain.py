#!/usr/bin/env python3
"""Times `codebuild-retry-gate explain` as a whole process on every shipped example.

Usage: scripts/bench-explain.py [BINARY] [RUNS]   (default: target/release/codebuild-retry-gate, 50)
Prints per-example median and p95 wall time, and the overall median. Build first with
`cargo build --release`.
"""
import pathlib
import statistics
import subprocess
import sys
import time

root = pathlib.Path(__file__).resolve().parent.parent
binary = sys.argv[1] if len(sys.argv) > 1 else str(root / "target/release/codebuild-retry-gate")
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 50

all_times = []
for scenario in sorted((root / "examples/batches").iterdir()):
    if not (scenario / "batch.json").exists():
        continue
    cmd = [binary, "explain", str(scenario / "batch.json")]
    for flag, name in (("--builds", "builds.json"), ("--history", "history.json")):
        if (scenario / name).exists():
            cmd += [flag, str(scenario / name)]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    all_times += times
    p95 = times[int(len(times) * 0.95) - 1]
    print(f"{scenario.name:24} median {statistics.median(times):6.2f} ms   p95 {p95:6.2f} ms")
print(f"{'all examples':24} median {statistics.median(all_times):6.2f} ms   ({len(all_times)} runs)")
