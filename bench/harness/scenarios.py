"""The scenario matrix and one loadgen run against one started server."""

import json
import subprocess
from dataclasses import dataclass
from typing import Optional

from .impls import IMPLS, TLS_CERT, bench_bin


@dataclass(frozen=True)
class Scenario:
    """One row group of the results: a loadgen shape."""

    key: str
    title: str
    mode: str
    args: tuple[str, ...]
    deflate: bool = False
    # Which server start it shares: scenarios of one group run against one server process.
    group: str = "throughput"
    # For deflate scenarios: the plain scenario whose raw TCP figure is the ceiling.
    ceiling_of: Optional[str] = None


SCENARIOS: list[Scenario] = [
    Scenario("a", "(a) 1 connection, 32 B text, pipeline 1", "echo",
             ("--connections", "1", "--size", "32", "--pipeline", "1")),
    Scenario("b", "(b) 64 connections, 32 B text, pipeline 1", "echo",
             ("--connections", "64", "--size", "32", "--pipeline", "1")),
    Scenario("c", "(c) 16 connections, 64 KiB binary, pipeline 1", "echo",
             ("--connections", "16", "--size", "65536", "--binary", "--pipeline", "1")),
    Scenario("d", "(d) handshake churn, 16 concurrent connect-handshake-close loops", "churn",
             ("--connections", "16")),
    Scenario("e", "(e) 2,000 idle connections", "idle",
             ("--connections", "2000", "--size", "32"), group="idle-2000"),
    Scenario("f", "(f) 10,000 idle connections", "idle",
             ("--connections", "10000", "--size", "32"), group="idle-10000"),
    Scenario("h", "(h) 100,000 idle connections", "idle",
             ("--connections", "100000", "--size", "32"), group="idle-100000"),
    Scenario("g-b", "(g) = (b) with permessage-deflate", "echo",
             ("--connections", "64", "--size", "32", "--pipeline", "1"), deflate=True,
             group="deflate", ceiling_of="b"),
    Scenario("g-c", "(g) = (c) with permessage-deflate", "echo",
             ("--connections", "16", "--size", "65536", "--binary", "--pipeline", "1"),
             deflate=True, group="deflate", ceiling_of="c"),
]

BY_KEY = {s.key: s for s in SCENARIOS}


def loadgen_cmd(sc: Scenario, impl_name: str, port: int, pid: int, secs: float,
                warmup: float, idle_hold: float, cpu: Optional[str]) -> list[str]:
    """The exact loadgen command line for one run."""
    tls = IMPLS[impl_name].tls
    scheme = "tcp" if impl_name == "rawtcp" else "wss" if tls else "ws"
    duration = idle_hold if sc.mode == "idle" else secs
    cmd = [str(bench_bin("loadgen")), "--url", f"{scheme}://127.0.0.1:{port}/",
           *(["--tls-ca", str(TLS_CERT)] if tls else []),
           "--mode", sc.mode, *sc.args, "--duration", str(duration), "--warmup", str(warmup),
           "--server-pid", str(pid), "--json"]
    if sc.deflate:
        cmd.append("--deflate")
    return (["taskset", "-c", cpu] if cpu is not None else []) + cmd


def run_loadgen(cmd: list[str], timeout: float) -> dict:
    """Run loadgen; its JSON figures, or {"error": why}."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"loadgen timed out after {timeout:.0f} s"}
    out = p.stdout.strip().splitlines()
    try:
        result = json.loads(out[-1]) if out else {}
    except json.JSONDecodeError:
        result = {}
    if p.returncode != 0 or not result:
        why = (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1]
        if result.get("first_error"):
            why += f" (first error: {result['first_error']})"
        elif result.get("server_cpu_us") == 0:
            why += " (the server got no CPU time in the window)"
        return {"error": why[-200:], **({"partial": result} if result else {})}
    return result
