#!/usr/bin/env python3
"""wssession benchmark orchestrator (python3 stdlib only).

  run.py matrix [--secs S] [--runs N] [--impls a,b] [--scenarios a,b] [--out FILE]
      build/install every server, run the scenario matrix, write BENCHMARKS.md
  run.py serve IMPL --port N [--deflate]
      prepare one server and run it in the foreground (make bench-server)
  run.py smoke
      functional check of the harness against echo-tokio-tungstenite (make bench-smoke)
  run.py fanout [--secs S] [--runs N] [--impls a,b] [--shapes a,b] [--out FILE]
      the topics fan-out benchmark; writes its section of BENCHMARKS.md (make bench-fanout)

Environment defaults: BENCH_SECS, BENCH_RUNS, BENCH_IDLE_RUNS, BENCH_WARMUP, BENCH_IMPLS,
BENCH_SCENARIOS.
"""

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import fanout, impls, machine, procs, report, smoke  # noqa: E402
from harness.matrix import Config, run_matrix  # noqa: E402
from harness.paths import ROOT  # noqa: E402
from harness.scenarios import SCENARIOS  # noqa: E402


def _csv(v: str) -> list[str]:
    return [x.strip() for x in v.split(",") if x.strip()]


def cmd_matrix(a: argparse.Namespace) -> int:
    procs.install_cleanup()
    procs.raise_nofile()
    started, load_before = time.time(), machine.loadavg()
    unknown = [n for n in a.impls if n not in impls.IMPLS]
    unknown += [k for k in a.scenarios if k not in {s.key for s in SCENARIOS}]
    if unknown:
        print(f"run.py: unknown impl or scenario: {', '.join(unknown)}", file=sys.stderr)
        return 2
    why = impls.build_bench()
    if why:
        print(f"run.py: cannot build the load generator: {why}", file=sys.stderr)
        return 1
    cfg = Config(impls=a.impls, scenarios=a.scenarios, secs=a.secs, runs=a.runs,
                 idle_runs=a.idle_runs, warmup=a.warmup, idle_hold=a.idle_hold,
                 variants_trimmed=not a.impls_named)
    res = run_matrix(cfg)
    env = " ".join(f"{k}={shlex.quote(os.environ[k])}" for k in
                   ("BENCH_SECS", "BENCH_RUNS", "BENCH_IDLE_RUNS", "BENCH_IMPLS",
                    "BENCH_SCENARIOS") if k in os.environ)
    command = (env + " " if env else "") + "python3 bench/run.py " + " ".join(
        shlex.quote(x) for x in sys.argv[1:])
    out = Path(a.out) if a.out else ROOT / "BENCHMARKS.md"
    report.write(res, cfg, out, command, started, load_before)
    print(f"[bench] wrote {out} ({(time.time() - started) / 60:.1f} min)")
    return 0


def cmd_serve(a: argparse.Namespace) -> int:
    impl = impls.IMPLS.get(a.impl)
    if impl is None:
        print(f"run.py: unknown IMPL {a.impl!r}; one of: {', '.join(impls.IMPLS)}",
              file=sys.stderr)
        return 2
    why = impl.prepare()
    if why:
        print(f"run.py: {a.impl} not available: {why}", file=sys.stderr)
        return 1
    if a.deflate and not impl.deflate:
        print(f"note: {a.impl} has no permessage-deflate; serving uncompressed", file=sys.stderr)
    procs.raise_nofile()
    cmd = impl.command(a.port, a.deflate)
    env = impl.env() or dict(os.environ)
    print(f"[bench] {a.impl} on 127.0.0.1:{a.port}: {shlex.join(cmd)}", file=sys.stderr,
          flush=True)
    os.execvpe(cmd[0], cmd, env)


def cmd_fanout(a: argparse.Namespace) -> int:
    unknown = [n for n in a.impls if n not in fanout.BY_NAME]
    unknown += [k for k in a.shapes if k not in {s.key for s in fanout.SHAPES}]
    if unknown:
        print(f"run.py: unknown fan-out server or shape: {', '.join(unknown)}", file=sys.stderr)
        return 2
    out = fanout.run(a.impls, a.shapes, a.secs, a.runs, a.warmup)
    command = "python3 bench/run.py " + " ".join(shlex.quote(x) for x in sys.argv[1:])
    path = Path(a.out) if a.out else ROOT / "BENCHMARKS.md"
    fanout.write(path, fanout.section(out, a.impls, a.shapes, command, a.secs, a.runs))
    print(f"[fanout] wrote its section of {path}")
    return 0


def main() -> int:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("matrix", help="run the whole matrix, write BENCHMARKS.md")
    m.add_argument("--secs", type=float, default=float(env("BENCH_SECS", "2")))
    m.add_argument("--runs", type=int, default=int(env("BENCH_RUNS", "3")))
    m.add_argument("--idle-runs", type=int, default=int(env("BENCH_IDLE_RUNS", "1")))
    m.add_argument("--warmup", type=float, default=float(env("BENCH_WARMUP", "0.5")))
    m.add_argument("--idle-hold", type=float, default=1.0,
                   help="seconds idle connections are held before the liveness echo")
    m.add_argument("--impls", type=_csv, default=None,
                   help="servers to run (default: all; named servers run every scenario)")
    m.add_argument("--scenarios", type=_csv,
                   default=_csv(env("BENCH_SCENARIOS", ",".join(s.key for s in SCENARIOS))))
    m.add_argument("--out", help="report path (default BENCHMARKS.md at the repo root)")
    s = sub.add_parser("serve", help="run one server in the foreground")
    s.add_argument("impl")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--deflate", action="store_true")
    sub.add_parser("smoke", help="functional check of loadgen against echo-tokio-tungstenite")
    fo = sub.add_parser("fanout", help="the topics fan-out benchmark (its section of BENCHMARKS.md)")
    fo.add_argument("--secs", type=float, default=float(env("BENCH_SECS", "2")))
    fo.add_argument("--runs", type=int, default=int(env("BENCH_RUNS", "3")))
    fo.add_argument("--warmup", type=float, default=float(env("BENCH_WARMUP", "0.5")))
    fo.add_argument("--impls", type=_csv, default=[i.name for i in fanout.IMPLS])
    fo.add_argument("--shapes", type=_csv, default=[s.key for s in fanout.SHAPES])
    fo.add_argument("--out", help="file whose fan-out section is written (default BENCHMARKS.md)")
    a = p.parse_args()
    if a.cmd == "matrix":
        a.impls_named = a.impls is not None or "BENCH_IMPLS" in os.environ
        if a.impls is None:
            a.impls = _csv(env("BENCH_IMPLS", ",".join(impls.IMPLS)))
        return cmd_matrix(a)
    if a.cmd == "serve":
        return cmd_serve(a)
    if a.cmd == "fanout":
        return cmd_fanout(a)
    return smoke.run()


if __name__ == "__main__":
    sys.exit(main())
