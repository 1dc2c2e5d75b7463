"""The topics fan-out benchmark (issue 18): one publisher, 1,000 subscribers, every server side by side.

Each server subscribes a connection to `/sub/<topic>` to `<topic>` and publishes every message a
connection to `/pub` sends to the topic its text starts with (`t<k> …`). loadgen's `fanout` mode
counts deliveries; server CPU per delivery comes from /proc like the echo matrix.
"""

import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from . import impls, procs
from .impls import VENV, bench_bin
from .paths import LOGS, PEERS, ROOT, TARGET
from .scenarios import run_loadgen

SERVER_CPU, CLIENT_CPU = "0", "1"
BEGIN, END = "<!-- fanout:begin -->", "<!-- fanout:end -->"


@dataclass(frozen=True)
class Shape:
    """One fan-out load: loadgen arguments, and the server flags it needs."""

    key: str
    title: str
    args: tuple[str, ...]
    server_flags: tuple[str, ...] = ()
    # Only servers offering permessage-deflate run it.
    deflate: bool = False
    # Its shortest window: at a fixed rate a 2 s window holds too few deliveries for 0.1 µs steps.
    min_secs: float = 0.0
    # The servers it compares (None: all): those the shape has a target for.
    only: Optional[tuple[str, ...]] = None
    # Rounds of a rotation (0: one fresh server per window instead): every server started and
    # connected at once, then each round gives every server one window in turn, and its ratios
    # are the medians of the per-round ratios (a fixed rate leaves the server idle most of the
    # time, so a window's CPU drifts with the machine as much as the servers differ).
    rounds: int = 0


SHAPES = [
    Shape("1x1000", "1 publisher → 1,000 subscribers, 32 B, as fast as the server goes",
          ("--connections", "1000", "--topics", "1", "--window", "64")),
    Shape("100x10", "100 topics × 10 subscribers, 32 B, as fast as the server goes",
          ("--connections", "1000", "--topics", "100", "--window", "6400")),
    Shape("1x1000@50", "1 publisher → 1,000 subscribers, 32 B, 50 publishes/s",
          ("--connections", "1000", "--topics", "1", "--rate", "50"), min_secs=2.0,
          only=("uws", "rust", "c", "node", "node-hostloop", "python"), rounds=10),
    Shape("deflate-ctx", "1 → 1,000, 32 B, permessage-deflate with context takeover",
          ("--connections", "1000", "--topics", "1", "--window", "4", "--deflate"),
          ("--deflate",), deflate=True),
    Shape("deflate-nct", "1 → 1,000, 32 B, permessage-deflate, server_no_context_takeover",
          ("--connections", "1000", "--topics", "1", "--window", "4", "--deflate"),
          ("--deflate", "--no-context-takeover"), deflate=True),
]


@dataclass(frozen=True)
class FanoutImpl:
    """One fan-out server."""

    name: str
    what: str
    prepare: Callable[[], Optional[str]]
    command: Callable[[int, tuple[str, ...]], list[str]]
    deflate: bool = False
    node: bool = False


def _build_rust() -> Optional[str]:
    return impls._cargo(["build", "--release", "--locked", "-p", "wssession-core", "--example", "fanout"],
                        "build-rust-fanout.log")


def _build_c() -> Optional[str]:
    why = impls.build_c()
    if why is None and not (ROOT / "target" / "c" / "fanout_server").exists():
        return "target/c/fanout_server missing after `make build-c`"
    return why


IMPLS = [
    FanoutImpl("rust", "wssession core, `Session::publish` (core/examples/fanout.rs)",
               impls.once("rust fan-out (core/examples/fanout)", _build_rust),
               lambda port, f: [str(TARGET / "release" / "examples" / "fanout"), "--port", str(port), *f],
               deflate=True),
    FanoutImpl("c", "wssession C ABI, `wss_session_publish` (examples/c/fanout_server.c)",
               impls.once("c fan-out (make build-c)", _build_c),
               lambda port, f: [str(ROOT / "target" / "c" / "fanout_server"), str(port)]),
    FanoutImpl("python", "wssession Python, `server.publish()` (bench/servers/python_fanout.py)", impls.check_python,
               lambda port, f: [str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "bench" / "servers" / "python_fanout.py"),
                                "--port", str(port)]),
    FanoutImpl("node", "wssession Node, `wss.publish()` (bench/servers/node_fanout.js)", impls.check_node,
               lambda port, f: ["node", str(ROOT / "bench" / "servers" / "node_fanout.js"), "--port", str(port)]),
    FanoutImpl("node-hostloop", "wssession Node, `wss.publish()` with `hostLoop: true` (Node's loop reads the sockets)",
               impls.check_node,
               lambda port, f: ["node", str(ROOT / "bench" / "servers" / "node_fanout.js"), "--port", str(port),
                                "--host-loop"]),
    FanoutImpl("tokio-tungstenite", "a plain tokio-tungstenite loop: a channel and a writer task "
               "per subscriber, `feed` then `flush` (writes batched per socket)", impls.build_bench,
               lambda port, f: [str(bench_bin("fanout-tokio-tungstenite")), "--port", str(port)]),
    FanoutImpl("uws", "uWebSockets.js `app.publish` (npm uwebsockets)", impls.install_node,
               lambda port, f: ["node", str(PEERS / "uws_fanout.js"), "--port", str(port)], node=True),
    FanoutImpl("ws", "ws: `client.send` for each member of the topic's Set (the `wss.clients` loop)",
               impls.install_node,
               lambda port, f: ["node", str(PEERS / "ws_fanout.js"), "--port", str(port)], node=True),
    FanoutImpl("websockets", "python-websockets `broadcast()`", impls.install_venv,
               lambda port, f: [str(VENV / "bin" / "python"), str(PEERS / "websockets_fanout.py"),
                                "--port", str(port)]),
]
# Before/after in one run (as the echo matrix, see impls.BEFORE_DIR): with BENCH_BEFORE_DIR holding
# another build's `fanout` (core/examples/fanout) and `fanout_server` (examples/c), its Python package
# (`py/wssession/` beside a copy of `py/python_fanout.py`) and its Node package
# (`node/node_modules/wssession/` beside a copy of `node/node_fanout.js`), "rust-before", "c-before",
# "python-before" and "node-before" run them.
if impls.BEFORE_DIR:
    _BEFORE = Path(impls.BEFORE_DIR)
    IMPLS += [
        FanoutImpl("rust-before", f"`rust` built elsewhere ({_BEFORE / 'fanout'})", impls._before_bin("fanout"),
                   lambda port, f: [str(_BEFORE / "fanout"), "--port", str(port), *f], deflate=True),
        FanoutImpl("c-before", f"`c` built elsewhere ({_BEFORE / 'fanout_server'})", impls._before_bin("fanout_server"),
                   lambda port, f: [str(_BEFORE / "fanout_server"), str(port)]),
        FanoutImpl("python-before", "another build's Python `server.publish()` (BENCH_BEFORE_DIR/py)",
                   impls._before_bin("py/python_fanout.py"),
                   lambda port, f: [str(VENV / "bin" / "python"), str(_BEFORE / "py" / "python_fanout.py"),
                                    "--port", str(port)]),
        FanoutImpl("node-before", "another build's Node `wss.publish()` (BENCH_BEFORE_DIR/node)",
                   impls._before_bin("node/node_fanout.js"),
                   lambda port, f: ["node", str(_BEFORE / "node" / "node_fanout.js"), "--port", str(port)]),
    ]
BY_NAME = {i.name: i for i in IMPLS}


def _one(impl: FanoutImpl, shape: Shape, secs: float, warmup: float) -> dict:
    port = procs.free_port()
    cmd = impl.command(port, shape.server_flags)
    srv = procs.Server(cmd, port, LOGS / f"fanout-{impl.name}.log",
                       env=impls._node_env() if impl.node else None, cpu=SERVER_CPU)
    try:
        why = srv.wait_ready()
        if why:
            return {"error": f"server did not start: {why}", "cmd": cmd}
        lg = ["taskset", "-c", CLIENT_CPU, str(bench_bin("loadgen")), "--url", f"ws://127.0.0.1:{port}/",
              "--mode", "fanout", *shape.args, "--size", "32", "--duration", str(secs),
              "--warmup", str(warmup), "--server-pid", str(srv.pid), "--json"]
        r = run_loadgen(lg, timeout=secs + warmup + 120)
        if srv.proc.poll() is not None:
            r = {"error": f"server exited during the run: {srv.log_tail()}"}
        r["cmd"], r["loadgen"] = cmd, lg
        return r
    finally:
        srv.stop()


def _rotation(names: list[str], shape: Shape, secs: float, rounds: int, warmup: float,
              results: dict[tuple[str, str], list[dict]]) -> None:
    """A rotation shape: every server up at once, one loadgen giving each a window per round in turn;
    each window's figures (with its "round") appended to `results`."""
    servers: dict[str, procs.Server] = {}
    try:
        for n in names:
            port = procs.free_port()
            cmd = BY_NAME[n].command(port, shape.server_flags)
            srv = procs.Server(cmd, port, LOGS / f"fanout-{n}.log",
                               env=impls._node_env() if BY_NAME[n].node else None, cpu=SERVER_CPU)
            why = srv.wait_ready()
            if why:
                srv.stop()
                results.setdefault((shape.key, n), []).append({"error": f"server did not start: {why}", "cmd": cmd})
                continue
            servers[n] = srv
        if not servers:
            return
        lg = ["taskset", "-c", CLIENT_CPU, str(bench_bin("loadgen")), "--mode", "fanout", *shape.args,
              "--size", "32", "--duration", str(secs), "--warmup", str(warmup), "--rounds", str(rounds), "--json"]
        for srv in servers.values():
            lg += ["--url", f"ws://127.0.0.1:{srv.port}/", "--server-pid", str(srv.pid)]
        r = run_loadgen(lg, timeout=(secs + warmup + 1) * rounds * len(servers) + 60 * len(servers) + 120)
        windows = r.get("windows") or r.get("partial", {}).get("windows")
        names_up = list(servers)
        if not windows:
            for n in names_up:
                results.setdefault((shape.key, n), []).append({"error": r.get("error", "no windows"), "loadgen": lg})
            return
        for w in sorted(windows, key=lambda w: (w["round"], w["server"])):
            n = names_up[w["server"]]
            # A window with an error (deliveries missing, or late: the machine stalled) is not a figure.
            if w.get("errors"):
                w = {"error": w.get("first_error") or "no delivery", "round": w["round"]}
            elif servers[n].proc.poll() is not None:
                w = {"error": f"server exited during the run: {servers[n].log_tail()}", "round": w["round"]}
            w["loadgen"] = lg
            results.setdefault((shape.key, n), []).append(w)
            short = w.get("error") or (f"{w.get('messages_per_sec', 0):.0f} deliveries/s, "
                                       f"{w.get('server_cpu_us_per_msg') or 0:.3f} us CPU/delivery")
            print(f"[fanout] {shape.key:11} round {w['round'] + 1}/{rounds} {n:18} {short}", flush=True)
    finally:
        for srv in servers.values():
            srv.stop()


def run(names: list[str], shapes: list[str], secs: float, runs: int, warmup: float) -> dict:
    """Every shape, `runs` interleaved rounds over the servers; the raw results by (shape, impl)."""
    procs.install_cleanup()
    procs.raise_nofile()
    unavailable = {}
    why = impls.build_bench()
    if why:
        raise SystemExit(f"cannot build loadgen: {why}")
    for n in names:
        why = BY_NAME[n].prepare()
        if why:
            unavailable[n] = why
    results: dict[tuple[str, str], list[dict]] = {}
    for shape in [s for s in SHAPES if s.key in shapes]:
        live = [n for n in names if n not in unavailable and (BY_NAME[n].deflate or not shape.deflate)
                and (shape.only is None or n.removesuffix("-before") in shape.only)]
        if shape.rounds:
            _rotation(live, shape, max(secs, shape.min_secs), max(runs, shape.rounds), warmup, results)
            continue
        for r in range(runs):
            for n in live:
                res = _one(BY_NAME[n], shape, max(secs, shape.min_secs), warmup)
                results.setdefault((shape.key, n), []).append(res)
                short = res.get("error") or (f"{res.get('messages_per_sec', 0):.0f} deliveries/s, "
                                             f"{res.get('server_cpu_us_per_msg') or 0:.3f} us CPU/delivery")
                print(f"[fanout] {shape.key:11} run {r + 1}/{runs} {n:18} {short}", flush=True)
    return {"results": results, "unavailable": unavailable}


def _median(rs: list[dict], key: str) -> Optional[float]:
    vals = [r[key] for r in rs if "error" not in r and r.get(key) is not None]
    return statistics.median(vals) if vals else None


def _vs(res: dict, key: str, name: str, ref: str) -> Optional[float]:
    """CPU per delivery of `name` over `ref` in shape `key`: the median of the per-round ratios when
    both ran in the same rounds of a rotation, else the ratio of their medians."""
    def by_round(n: str) -> dict:
        return {r["round"]: r["server_cpu_us_per_msg"] for r in res.get((key, n), [])
                if "round" in r and "error" not in r and r.get("server_cpu_us_per_msg")}
    mine, theirs = by_round(name), by_round(ref)
    if mine and theirs:
        pairs = [mine[k] / theirs[k] for k in mine.keys() & theirs.keys()]
        return statistics.median(pairs) if pairs else None
    a = _median(res.get((key, name), []), "server_cpu_us_per_msg")
    b = _median(res.get((key, ref), []), "server_cpu_us_per_msg")
    return a / b if a and b else None


def _fmt(v: Optional[float]) -> str:
    return f"{v:.2f}×" if v else "–"


# The fan-out loop of each binding's own ecosystem, which issue 18 compares it with.
LANGUAGE_LOOP = {"node": "ws", "node-hostloop": "ws", "python": "websockets"}

# Issue 18's targets: (server, shapes, reference, bound).
TARGETS = [
    ("rust", ("1x1000", "100x10"), "tokio-tungstenite", 1.0),
    ("c", ("1x1000", "100x10"), "tokio-tungstenite", 1.0),
    ("rust", ("1x1000@50",), "uws", 1.0),
    ("c", ("1x1000@50",), "uws", 1.0),
    ("node", ("1x1000", "100x10", "1x1000@50"), "uws", 1.0),
    ("node", ("1x1000", "100x10"), "ws", 0.15),
    ("node-hostloop", ("1x1000", "100x10", "1x1000@50"), "uws", 1.0),
    ("node-hostloop", ("1x1000", "100x10"), "ws", 0.15),
    ("python", ("1x1000", "100x10"), "websockets", 0.15),
]


def targets(res: dict, shapes: list[str]) -> list[str]:
    """Issue 18's targets, each met or missed in this run (CPU per delivery, lower is better)."""
    lines = ["| server | shape | vs | bound | measured | status |", "| --- | --- | --- | ---: | ---: | --- |"]
    for name, keys, ref, bound in TARGETS:
        for key in [k for k in keys if k in shapes]:
            value = _vs(res, key, name, ref)
            if not value:
                lines.append(f"| {name} | {key} | {ref} | ≤ {bound:g}× | – | not measured |")
                continue
            status = "met" if value <= bound else f"MISSED by {(value / bound - 1) * 100:.1f} %"
            lines.append(f"| {name} | {key} | {ref} | ≤ {bound:g}× | {value:.3f}× | {status} |")
    return lines


def section(out: dict, names: list[str], shapes: list[str], command: str, secs: float, runs: int) -> str:
    """The BENCHMARKS.md section (markdown), between the fan-out markers."""
    res, lines = out["results"], [BEGIN, "## Topics fan-out (issue 18)", ""]
    longer = ", ".join(f"{s.min_secs:g} s for {s.key}" for s in SHAPES
                       if s.key in shapes and s.min_secs > secs and not s.rounds)
    rotated = [s for s in SHAPES if s.key in shapes and s.rounds]
    lines += [
        f"Command: `{command}` ({runs} interleaved runs of {secs:g} s per server and shape"
        f"{f' ({longer})' if longer else ''}, medians; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}).",
        "",
        *[f"{s.key} is a rotation: every server started and connected at once, then {max(runs, s.rounds)} rounds "
          f"each giving every server one {max(secs, s.min_secs):g} s window in turn (the order reversed every other "
          "round, the others idle meanwhile; a window's CPU is taken when the deliveries of the publishes before it "
          "and of its own have all arrived); its CPU column is the median window, its ratios the medians of the "
          "per-round ratios." for s in rotated],
        *([""] if rotated else []),
        "Every server subscribes a connection to `/sub/<topic>` and publishes each message from `/pub` "
        "to the topic its text starts with; loadgen (`--mode fanout`) holds 1,000 subscribers and one "
        "publisher, at full rate with a window of publishes in flight (64 for one topic, 6,400 for "
        "100 topics: 64,000 deliveries either way; 4 for the deflate shapes) or at a fixed 50 "
        "publishes/s. **CPU µs/delivery** = "
        "server CPU over the window ÷ deliveries in it (server on CPU 0, loadgen on CPU 1, as the echo "
        "matrix). Ratios: against the plain tokio-tungstenite loop and against uWebSockets.js "
        "`app.publish` (lower CPU is better).",
        "",
    ]
    for i in IMPLS:
        if i.name in names:
            lines.append(f"- `{i.name}`: {i.what}")
    lines.append("")
    lines += ["| shape | server | deliveries/s | CPU µs/delivery | CPU % srv/cli | vs tokio-tungstenite | vs uWS.js "
              "| vs its language's loop | runs |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for shape in [s for s in SHAPES if s.key in shapes]:
        for n in names:
            rs = res.get((shape.key, n))
            if not rs:
                continue
            ok = [r for r in rs if "error" not in r]
            if not ok:
                lines.append(f"| {shape.title} | {n} | error: {rs[-1]['error'][:80]} | | | | | | 0/{len(rs)} |")
                continue
            cpu = _median(ok, "server_cpu_us_per_msg")
            rate = _median(ok, "messages_per_sec") or 0
            util = f"{(_median(ok, 'server_cpu_util') or 0) * 100:.0f} / {(_median(ok, 'client_cpu_util') or 0) * 100:.0f}"
            loop = LANGUAGE_LOOP.get(n)
            mine = _fmt(_vs(res, shape.key, n, loop)) if loop else ""
            lines.append(f"| {shape.title} | {n} | {rate:,.0f} | {cpu:.3f} | {util} | "
                         f"{_fmt(_vs(res, shape.key, n, 'tokio-tungstenite'))} | {_fmt(_vs(res, shape.key, n, 'uws'))} | "
                         f"{mine} | {len(ok)}/{len(rs)} |")
    lines += ["", "Targets (issue 18): Rust and C ≤ 1.0× the tokio-tungstenite loop at full rate and ≤ 1.0× "
              "uWebSockets.js at 50 publishes/s; Node ≤ 1.0× uWebSockets.js and ≤ 0.15× the `ws` loop; Python "
              "`publish()` ≤ 0.15× `websockets.broadcast()` (the \"vs its language's loop\" column). Where a "
              "row is missed, `bench/PROFILES.md` (issue 18) says where the time goes.", "",
              *targets(res, shapes), "", "The deflate shapes compare the core with itself: with "
              "context takeover every subscriber compresses the message (one zlib state each, ~280 KiB), "
              "with `server_no_context_takeover` the publish is compressed once and the frame shared."]
    for n, why in out["unavailable"].items():
        lines.append(f"\n`{n}` not available: {why}")
    lines += ["", END]
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> None:
    """Replaces the fan-out section of `path` (or appends it)."""
    old = path.read_text() if path.exists() else ""
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", re.S)
    new = pattern.sub(lambda _: text, old) if BEGIN in old else (old.rstrip("\n") + "\n\n" + text)
    path.write_text(new)
