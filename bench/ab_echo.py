"""Before/after server CPU per echo of two builds of the core's `echo` example, runs interleaved.

Usage: python3 bench/ab_echo.py BEFORE_BIN AFTER_BIN [--connections 64] [--size 32] [--runs 11] [--deflate]
       python3 bench/ab_echo.py BEFORE_BIN AFTER_BIN --idle --connections 10000 --runs 3
Build each side with `cargo build --release -p wssession-core --example echo` at its commit (copy
target/release/examples/echo aside); `loadgen` is `cargo build --release -p wssession-bench --bin loadgen`.
Server pinned to CPU 0, loadgen to CPU 1, as `make bench`; prints the medians and after/before.
`--deflate` has the server offer permessage-deflate and loadgen accept it (client_no_context_takeover).
`--idle` compares the server's KiB of RSS per idle connection instead (loadgen's idle mode, as scenario (f)).
"""
import argparse
import json
import re
import resource
import statistics
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def raise_nofile() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit (inherited by the server and loadgen): idle runs hold
    thousands of sockets on each side."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def one(binary: str, loadgen: str, conns: int, size: int, secs: float, deflate: bool, idle: bool) -> dict:
    """One window against a fresh server: loadgen's JSON summary."""
    flag = ["--deflate"] if deflate else []
    mode = "idle" if idle else "echo"
    srv = subprocess.Popen(["taskset", "-c", "0", binary, "--port", "0", *flag], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        port = None
        for line in srv.stdout:
            m = re.search(r"127\.0\.0\.1:(\d+)", line)
            if m:
                port = m.group(1)
                break
        out = subprocess.run(["taskset", "-c", "1", loadgen, "--url", f"ws://127.0.0.1:{port}/", "--mode", mode,
                              "--connections", str(conns), "--size", str(size), "--pipeline", "1",
                              "--duration", str(secs), "--warmup", "0.5", "--server-pid", str(srv.pid), "--json",
                              *flag],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        srv.terminate()
        srv.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--secs", type=float, default=3.0)
    ap.add_argument("--deflate", action="store_true", help="negotiate permessage-deflate")
    ap.add_argument("--idle", action="store_true", help="KiB of server RSS per idle connection instead")
    ap.add_argument("--loadgen", default=str(ROOT / "target" / "release" / "loadgen"))
    a = ap.parse_args()
    raise_nofile()
    metric, unit = ("kib_per_conn", "KiB/idle conn") if a.idle else ("server_cpu_us_per_msg", "us CPU/echo")
    seen = {"before": [], "after": []}
    for run in range(a.runs):
        for side in ("before", "after"):
            r = one(getattr(a, side), a.loadgen, a.connections, a.size, a.secs, a.deflate, a.idle)
            seen[side].append(r[metric])
            print(f"run {run + 1}/{a.runs} {side}: {r[metric]:.3f} {unit}", flush=True)
    b, f = statistics.median(seen["before"]), statistics.median(seen["after"])
    shape = f"{a.connections} x {a.size} B" + (" deflate" if a.deflate else "") + (" idle" if a.idle else "")
    pairs = statistics.median(x / y for x, y in zip(seen["after"], seen["before"]))
    print(f"{shape}: before {b:.3f}, after {f:.3f} {unit} (medians of {a.runs}); after/before {f / b:.3f} "
          f"(median of the {a.runs} back-to-back pairs' ratios {pairs:.3f})")


if __name__ == "__main__":
    main()
