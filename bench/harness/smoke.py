"""`make bench-smoke`: a functional check (no timing assertions) that loadgen's modes complete
against echo-tokio-tungstenite (fanout: fanout-tokio-tungstenite) with nonzero message counts and
no errors."""

import json
import subprocess
import sys

from . import procs
from .paths import LOGS, ROOT, TARGET

CASES = [
    ("echo", ["--connections", "4", "--size", "32", "--pipeline", "2"]),
    ("echo", ["--connections", "2", "--size", "70000", "--binary"]),
    ("echo", ["--connections", "2", "--deflate"]),
    ("idle", ["--connections", "50"]),
    ("churn", ["--connections", "4"]),
]


def run() -> int:
    """Build the bench crate (dev profile), start the server, run each case; 0 when all pass."""
    procs.install_cleanup()
    procs.raise_nofile()
    ok, tail = procs.run(["cargo", "build", "--locked", "-p", "wssession-bench"], cwd=ROOT)
    if not ok:
        print(f"bench-smoke: build failed: {tail}", file=sys.stderr)
        return 1
    bindir = TARGET / "debug"
    port = procs.free_port()
    srv = procs.Server([str(bindir / "echo-tokio-tungstenite"), "--port", str(port)], port,
                       LOGS / "smoke-server.log")
    failures = 0
    try:
        why = srv.wait_ready()
        if why:
            print(f"bench-smoke: server did not start: {why}", file=sys.stderr)
            return 1
        for mode, args in CASES:
            failures += _case(bindir, port, srv.pid, mode, args)
    finally:
        srv.stop()
    failures += _fanout(bindir)
    failures += _rotation(bindir)
    print(f"bench-smoke: {'passed' if not failures else f'{failures} case(s) failed'}")
    return 1 if failures else 0


FANOUT_CASES = [
    ["--connections", "20", "--topics", "1", "--window", "4"],
    ["--connections", "20", "--topics", "5", "--window", "20"],
    ["--connections", "10", "--rate", "50"],
]


def _fanout(bindir) -> int:
    """loadgen's fanout mode against fanout-tokio-tungstenite; the number of failed cases."""
    port = procs.free_port()
    srv = procs.Server([str(bindir / "fanout-tokio-tungstenite"), "--port", str(port)], port,
                       LOGS / "smoke-fanout-server.log")
    failures = 0
    try:
        why = srv.wait_ready()
        if why:
            print(f"bench-smoke: fan-out server did not start: {why}", file=sys.stderr)
            return 1
        for args in FANOUT_CASES:
            failures += _case(bindir, port, srv.pid, "fanout", args)
    finally:
        srv.stop()
    return failures


def _rotation(bindir) -> int:
    """loadgen's fixed-rate rotation over two fan-out servers: every window of every round is there
    and counts exactly its own publishes' deliveries (10 subscribers × 20 publishes); 1 when not."""
    servers = []
    try:
        for i in range(2):
            port = procs.free_port()
            servers.append(procs.Server([str(bindir / "fanout-tokio-tungstenite"), "--port", str(port)], port,
                                        LOGS / f"smoke-rotation-server-{i}.log"))
        cmd = [str(bindir / "loadgen"), "--mode", "fanout", "--connections", "10", "--rate", "50",
               "--duration", "0.4", "--warmup", "0.1", "--rounds", "2", "--json"]
        for srv in servers:
            why = srv.wait_ready()
            if why:
                print(f"bench-smoke: rotation server did not start: {why}", file=sys.stderr)
                return 1
            cmd += ["--url", f"ws://127.0.0.1:{srv.port}/", "--server-pid", str(srv.pid)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        try:
            windows = json.loads(p.stdout.strip().splitlines()[-1])["windows"]
        except (IndexError, KeyError, json.JSONDecodeError):
            windows = []
        seen = sorted((w["round"], w["server"], w["messages"], w["errors"]) for w in windows)
        good = p.returncode == 0 and seen == [(r, s, 200, 0) for r in range(2) for s in range(2)]
        print(f"bench-smoke: {'ok  ' if good else 'FAIL'} fanout rotation over 2 servers, 2 rounds: "
              f"exit {p.returncode}, windows (round, server, deliveries, errors) {seen}"
              + ("" if good else f" {p.stderr.strip()[-300:]}"))
        return 0 if good else 1
    finally:
        for srv in servers:
            srv.stop()


def _case(bindir, port: int, pid: int, mode: str, args: list[str]) -> int:
    """Runs loadgen once and prints the outcome; 1 when it failed."""
    cmd = [str(bindir / "loadgen"), "--url", f"ws://127.0.0.1:{port}/", "--mode", mode,
           "--duration", "1", "--warmup", "0.2", "--server-pid", str(pid), "--json", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    try:
        r = json.loads(p.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        r = {}
    good = p.returncode == 0 and r.get("messages", 0) > 0 and r.get("errors") == 0
    print(f"bench-smoke: {'ok  ' if good else 'FAIL'} {mode} {' '.join(args)}: "
          f"exit {p.returncode}, messages {r.get('messages')}, errors {r.get('errors')}"
          + ("" if good else f" {r.get('first_error')} {p.stderr.strip()[-300:]}"))
    return 0 if good else 1
