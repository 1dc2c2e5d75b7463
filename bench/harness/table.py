"""Medians, ratios and the markdown tables of BENCHMARKS.md."""

import statistics
from typing import Optional

from .impls import IMPLS, OURS, peers_of
from .matrix import Results
from .scenarios import BY_KEY, SCENARIOS

METRICS = ("messages_per_sec", "mb_per_sec", "server_cpu_us_per_msg", "server_cpu_util",
           "client_cpu_util", "kib_per_conn",
           "kib_per_conn_after_echo", "connections_ok", "errors")
LATENCY = ("p50", "p99", "p999")


def summarize(res: Results, sc: str, impl: str) -> dict:
    """Median figures of the good runs, or {"na": why}."""
    if impl in res.unavailable:
        return {"na": f"not available: {res.unavailable[impl]}"}
    if (sc, impl) in res.skipped:
        return {"na": f"skipped: {res.skipped[(sc, impl)]}"}
    runs = res.runs.get((sc, impl), [])
    good = [r for r in runs if "error" not in r]
    if not good:
        why = runs[0]["error"] if runs else "not run"
        return {"na": f"failed: {why}"}
    out: dict = {"runs": len(good), "of": len(runs)}
    for m in METRICS:
        vals = [r[m] for r in good if r.get(m) is not None]
        out[m] = statistics.median(vals) if vals else None
    for q in LATENCY:
        vals = [r["latency_us"][q] for r in good if r.get("latency_us")]
        out[q] = statistics.median(vals) if vals else None
    out["deflate_negotiated"] = all(r.get("deflate_negotiated") is not False for r in good)
    return out


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    """a / b, or None when either is missing or b is zero."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def _num(v: Optional[float], digits: int = 1) -> str:
    if v is None:
        return "–"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def _x(v: Optional[float], who: str = "") -> str:
    return "–" if v is None else f"{v:.2f}×{' ' + who if who else ''}"


def _pct(server: Optional[float], client: Optional[float]) -> str:
    f = lambda v: "–" if v is None else f"{v * 100:.0f}"  # noqa: E731
    return f"{f(server)}/{f(client)}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def scenario_table(res: Results, key: str, impls: list[str]) -> list[str]:
    """The markdown lines of one scenario's table."""
    sc = BY_KEY[key]
    ceiling = summarize(res, sc.ceiling_of or key, "rawtcp")
    if sc.mode == "idle":
        head = ["server", "KiB/conn (open)", "KiB/conn (after 1 echo)", "conns ok",
                "vs peer", "vs raw TCP", "runs"]
    else:
        unit = "handshakes/s" if sc.mode == "churn" else "msg/s"
        cpu = "CPU µs/handshake" if sc.mode == "churn" else "CPU µs/msg"
        head = ["server", unit, "MB/s", "p50 µs", "p99 µs", "p99.9 µs", cpu, "CPU % srv/cli",
                f"{unit} vs peer", "CPU vs peer", f"{unit} vs raw TCP", "CPU vs raw TCP", "runs"]
    lines = [_row(head), _row(["---"] * len(head))]
    for name in impls:
        s = summarize(res, key, name)
        if "na" in s:
            lines.append(_row([name, s["na"].replace("|", "/")] + [""] * (len(head) - 2)))
            continue
        peer_name = IMPLS[name].peer
        peer = summarize(res, key, peer_name) if peer_name else {}
        note = "" if s["deflate_negotiated"] else " (deflate refused)"
        runs = f"{s['runs']}/{s['of']}" + (f", {s['errors']:.0f} err" if s["errors"] else "")
        if sc.mode == "idle":
            kib = s["kib_per_conn"]
            lines.append(_row([
                name + note, _num(kib), _num(s["kib_per_conn_after_echo"]),
                _num(s["connections_ok"], 0),
                _x(ratio(kib, peer.get("kib_per_conn")), peer_name or ""),
                _x(ratio(kib, ceiling.get("kib_per_conn"))), runs]))
            continue
        mps, cpu = s["messages_per_sec"], s["server_cpu_us_per_msg"]
        lines.append(_row([
            name + note, _num(mps, 0), _num(s["mb_per_sec"], 2) if sc.mode != "churn" else "–",
            _num(s["p50"]), _num(s["p99"]), _num(s["p999"]), _num(cpu, 2),
            _pct(s["server_cpu_util"], s["client_cpu_util"]),
            _x(ratio(mps, peer.get("messages_per_sec")), peer_name or ""),
            _x(ratio(cpu, peer.get("server_cpu_us_per_msg")), peer_name or ""),
            _x(ratio(mps, ceiling.get("messages_per_sec"))),
            _x(ratio(cpu, ceiling.get("server_cpu_us_per_msg"))), runs]))
    return lines


# (label, scenario, impl, metric, reference impl or None for an absolute bound, op, bound)
TARGETS = [
    ("Rust core (b) CPU/echo vs raw TCP", "b", "rust", "server_cpu_us_per_msg", "rawtcp", "<=", 1.10),
    ("Rust core (b) CPU/echo vs tokio-tungstenite", "b", "rust", "server_cpu_us_per_msg",
     "tokio-tungstenite", "<=", 0.90),
    ("Rust core (c) 64 KiB throughput vs raw TCP", "c", "rust", "mb_per_sec", "rawtcp", ">=", 0.90),
    ("Rust core (e) KiB per idle connection", "e", "rust", "kib_per_conn", None, "<=", 8.0),
    ("Rust core (f) KiB per idle connection", "f", "rust", "kib_per_conn", None, "<=", 8.0),
    ("Rust core (d) handshakes/s vs tokio-tungstenite", "d", "rust", "messages_per_sec",
     "tokio-tungstenite", ">=", 1.5),
    ("C ABI (b) CPU/echo vs Rust core", "b", "c", "server_cpu_us_per_msg", "rust", "<=", 1.15),
    ("Python asyncio (b) CPU/echo vs websockets", "b", "python", "server_cpu_us_per_msg",
     "websockets", "<=", 0.35),
    ("Python asyncio (b) msg/s vs picows", "b", "python", "messages_per_sec", "picows", ">=", 1.0),
    ("Python callback (b) CPU/echo vs picows", "b", "python-callback", "server_cpu_us_per_msg",
     "picows", "<=", 0.8),
    ("Node (b) CPU/echo vs ws", "b", "node", "server_cpu_us_per_msg", "ws", "<=", 0.6),
    ("Node (b) msg/s vs ws", "b", "node", "messages_per_sec", "ws", ">=", 1.5),
    ("Node deflate (g-b) msg/s vs ws", "g-b", "node", "messages_per_sec", "ws", ">=", 1.5),
    ("Node deflate (g-c) msg/s vs ws", "g-c", "node", "messages_per_sec", "ws", ">=", 1.5),
    ("Python deflate (g-b) msg/s vs websockets", "g-b", "python", "messages_per_sec",
     "websockets", ">=", 1.5),
    ("Python deflate (g-c) msg/s vs websockets", "g-c", "python", "messages_per_sec",
     "websockets", ">=", 1.5),
    ("Node behind http.Server (b) CPU/echo vs own listener", "b", "node-http",
     "server_cpu_us_per_msg", "node", "<=", 1.05),
    # Issue 19: the best peer of each language (uWebSockets.js for Node, picows + uvloop for Python).
    ("Node (b) CPU/echo vs uWebSockets.js", "b", "node", "server_cpu_us_per_msg", "uws", "<=", 1.0),
    ("Node (c) CPU/echo vs uWebSockets.js", "c", "node", "server_cpu_us_per_msg", "uws", "<=", 1.0),
    ("Node (d) CPU/handshake vs uWebSockets.js", "d", "node", "server_cpu_us_per_msg", "uws",
     "<=", 1.2),
    ("Node (a) msg/s vs uWebSockets.js", "a", "node", "messages_per_sec", "uws", ">=", 0.95),
    ("Node (f) KiB per idle connection", "f", "node", "kib_per_conn", None, "<=", 3.0),
    ("Node (h) KiB per idle connection", "h", "node", "kib_per_conn", None, "<=", 3.0),
    ("Python asyncio (b) CPU/echo vs picows + uvloop", "b", "python", "server_cpu_us_per_msg",
     "picows", "<=", 1.0),
    ("Python asyncio (c) CPU/echo vs picows + uvloop", "c", "python", "server_cpu_us_per_msg",
     "picows", "<=", 1.0),
    ("Python asyncio (c) CPU/echo vs websockets + uvloop", "c", "python", "server_cpu_us_per_msg",
     "websockets-uvloop", "<=", 1.0),
    ("Python asyncio (a) msg/s vs picows + uvloop", "a", "python", "messages_per_sec", "picows",
     ">=", 0.95),
    ("Node host loop (b) CPU/echo vs uWebSockets.js", "b", "node-hostloop", "server_cpu_us_per_msg", "uws",
     "<=", 1.0),
    ("Node host loop (c) CPU/echo vs uWebSockets.js", "c", "node-hostloop", "server_cpu_us_per_msg", "uws",
     "<=", 1.0),
    ("Node host loop (d) CPU/handshake vs uWebSockets.js", "d", "node-hostloop", "server_cpu_us_per_msg",
     "uws", "<=", 1.2),
    ("Node host loop (a) msg/s vs uWebSockets.js", "a", "node-hostloop", "messages_per_sec", "uws", ">=", 0.95),
    ("Python asyncio host loop (b) CPU/echo vs picows + uvloop", "b", "python-hostloop-uvloop",
     "server_cpu_us_per_msg", "picows", "<=", 1.0),
    ("Python asyncio host loop (c) CPU/echo vs picows + uvloop", "c", "python-hostloop-uvloop",
     "server_cpu_us_per_msg", "picows", "<=", 1.0),
    ("Python asyncio host loop (a) msg/s vs picows + uvloop", "a", "python-hostloop-uvloop",
     "messages_per_sec", "picows", ">=", 0.95),
    ("Python callback (b) CPU/echo vs picows + uvloop", "b", "python-callback",
     "server_cpu_us_per_msg", "picows", "<=", 0.9),
    ("Rust core (b) CPU/echo vs raw TCP (issue 19)", "b", "rust", "server_cpu_us_per_msg", "rawtcp",
     "<=", 1.05),
    ("Rust core (f) KiB per idle connection (issue 19)", "f", "rust", "kib_per_conn", None, "<=", 2.0),
    ("Rust core (h) KiB per idle connection", "h", "rust", "kib_per_conn", None, "<=", 2.0),
    ("C ABI (f) KiB per idle connection", "f", "c", "kib_per_conn", None, "<=", 2.0),
    ("C ABI (h) KiB per idle connection", "h", "c", "kib_per_conn", None, "<=", 2.0),
]


# Where bench/PROFILES.md explains a row that is missed (the section title), by the start of its label.
EXPLAINED = [
    ("Python asyncio host loop", "Issue 19, Python asyncio handler (branch `pyspeed`)"),
    ("Python asyncio (b) CPU/echo vs websockets", "Python asyncio handler (b)"),
    ("Python asyncio (b) msg/s vs picows", "Python asyncio handler (b)"),
    ("Python asyncio", "Issue 19, Python asyncio handler (branch `pyspeed`)"),
    ("Python callback", "Python callback handler (b)"),
    ("Node host loop (d)", "Issue 19, Node handshake churn in `hostLoop` mode"),
    ("Node host loop", "The host-loop mode (Node"),
    ("Node (f)", "Issue 19, Node idle memory, third round"),
    ("Node (h)", "Idle connections"),
    ("Node (d)", "Handshake churn"),
    ("Node (c)", "Issue 19, large messages (branch `bigread`"),
    ("Node (a)", "The host-loop mode (Node"),
    ("Node", "Node binding, second round"),
    ("Rust core (f)", "Issue 19: no task while idle as the default"),
    ("Rust core (b) CPU/echo vs raw TCP (issue 19)", "Issue 19: Rust core (b) against raw TCP"),
    ("Rust core (c)", "Issue 19, large messages (branch `bigread`"),
    ("Rust core (h)", "Idle connections"),
    ("C ABI (b)", "C ABI (b) against the Rust core"),
    ("C ABI (f)", "Issue 19: no task while idle as the default"),
    ("C ABI (h)", "Idle connections"),
]


def explained_in(label: str) -> str:
    """The PROFILES.md section that says where the time goes for this target's row."""
    for prefix, section in EXPLAINED:
        if label.startswith(prefix):
            return f"PROFILES.md § {section}…"
    return ""


def targets_table(res: Results) -> list[str]:
    """The issue's targets, each met, missed (by how much) or not measurable yet."""
    lines = [_row(["target", "bound", "measured", "status", "where the time goes"]), _row(["---"] * 5)]
    for label, key, impl, metric, ref, op, bound in TARGETS:
        mine = summarize(res, key, impl)
        bound_txt = f"{op} {bound}" + ("×" if ref else "")
        if ref is None:
            value = mine.get(metric)
        else:
            value = ratio(mine.get(metric), summarize(res, key, ref).get(metric))
        if value is None:
            why = mine.get("na") or "reference not measured"
            lines.append(_row([label, bound_txt, "–", f"n/a ({why.split(':')[0]})", explained_in(label)]))
            continue
        met = value <= bound if op == "<=" else value >= bound
        status = "met" if met else f"MISSED by {abs(value / bound - 1) * 100:.0f} %"
        lines.append(_row([label, bound_txt, f"{value:.2f}" + ("×" if ref else ""), status,
                           "" if met else explained_in(label)]))
    return lines


def all_tables(res: Results, impls: list[str], keys: list[str]) -> list[str]:
    """Every selected scenario's table under its title."""
    out: list[str] = []
    for sc in SCENARIOS:
        if sc.key in keys:
            out += [f"### {sc.title}", ""] + scenario_table(res, sc.key, impls) + [""]
    return out


# Issue 12: Node serving connections a host server accepted, against Node on its own listener.
HOSTED = ("node", "node-http", "node-https")
HOSTED_WHAT = {"node": "own listener", "node-http": "behind `http.Server` (fd handover)",
               "node-https": "behind `https.Server` (TLS in Node, byte pump)"}


def paired_ratio(res: Results, key: str, impl: str, ref: str, metric: str) -> Optional[float]:
    """Median over rounds of impl/ref within the same round (interleaved runs share the load)."""
    mine, theirs = res.runs.get((key, impl), []), res.runs.get((key, ref), [])
    vals = [ratio(a.get(metric), b.get(metric)) for a, b in zip(mine, theirs)
            if "error" not in a and "error" not in b]
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def hosted_table(res: Results, impls: list[str], keys: list[str]) -> list[str]:
    """Node behind http.Server / https.Server vs its own listener, per echo scenario run."""
    names = [n for n in HOSTED if n in impls]
    keys = [k for k in keys if BY_KEY[k].mode == "echo" and not BY_KEY[k].deflate]
    if "node" not in names or len(names) < 2 or not keys:
        return []
    head = ["scenario", "Node", "msg/s", "CPU µs/msg", "CPU vs own listener",
            "CPU vs own listener (per round)", "msg/s vs own listener", "runs"]
    lines = [_row(head), _row(["---"] * len(head))]
    for key in keys:
        ref = summarize(res, key, "node")
        for name in names:
            s = summarize(res, key, name)
            if "na" in s:
                lines.append(_row([key, HOSTED_WHAT[name], s["na"].replace("|", "/")]
                                  + [""] * (len(head) - 3)))
                continue
            cpu, mps = s["server_cpu_us_per_msg"], s["messages_per_sec"]
            own = name == "node"
            lines.append(_row([
                key, HOSTED_WHAT[name], _num(mps, 0), _num(cpu, 2),
                "1" if own else _x(ratio(cpu, ref.get("server_cpu_us_per_msg"))),
                "1" if own else _x(paired_ratio(res, key, name, "node", "server_cpu_us_per_msg")),
                "1" if own else _x(ratio(mps, ref.get("messages_per_sec"))),
                f"{s['runs']}/{s['of']}"]))
    return lines


# Issue 16: each server with its log records at INFO written to a file, against the same with logging off.
LOGGED = {"rust-log-info": "rust", "python-log-info": "python"}


def logging_table(res: Results, impls: list[str], keys: list[str]) -> list[str]:
    """Server CPU per echo with logging at INFO against logging off, per echo scenario."""
    pairs = [(on, off) for on, off in LOGGED.items() if on in impls and off in impls]
    keys = [k for k in keys if BY_KEY[k].mode == "echo" and not BY_KEY[k].deflate]
    if not pairs or not keys:
        return []
    head = ["scenario", "server", "CPU µs/msg off", "CPU µs/msg INFO", "INFO vs off",
            "INFO vs off (per round)", "target ≤ 1.02×", "runs"]
    lines = [_row(head), _row(["---"] * len(head))]
    for key in keys:
        for on, off in pairs:
            s_on, s_off = summarize(res, key, on), summarize(res, key, off)
            if "na" in s_on or "na" in s_off:
                why = (s_on.get("na") or s_off.get("na") or "").replace("|", "/")
                lines.append(_row([key, off, why] + [""] * (len(head) - 3)))
                continue
            cpu_on, cpu_off = s_on["server_cpu_us_per_msg"], s_off["server_cpu_us_per_msg"]
            per_round = paired_ratio(res, key, on, off, "server_cpu_us_per_msg")
            status = "–" if per_round is None else "met" if per_round <= 1.02 else (
                f"MISSED by {(per_round / 1.02 - 1) * 100:.0f} %")
            lines.append(_row([key, IMPLS[off].lang + f" (`{off}`)", _num(cpu_off, 2), _num(cpu_on, 2),
                               _x(ratio(cpu_on, cpu_off)), _x(per_round), status,
                               f"{s_on['runs']}/{s_on['of']}"]))
    return lines


def best_peer(res: Results, key: str, name: str, metric: str) -> tuple[Optional[str], Optional[float]]:
    """The peer library of NAME's language with the best METRIC in scenario KEY, and that figure
    (lowest CPU or KiB, highest msg/s); (None, None) when no peer was measured."""
    higher = metric == "messages_per_sec"
    found = [(p, summarize(res, key, p).get(metric)) for p in peers_of(name)]
    found = [(p, v) for p, v in found if v is not None]
    if not found:
        return None, None
    return (max if higher else min)(found, key=lambda pv: pv[1])


def best_peer_table(res: Results, impls: list[str], keys: list[str]) -> list[str]:
    """Each of our surfaces against the best peer of its language, per scenario (issue 19)."""
    ours = [n for n in impls if n in OURS]
    head = ["scenario", "surface", "ours", "best peer (by this figure)", "theirs", "ratio",
            "msg/s: best peer", "msg/s ratio"]
    lines = [_row(head), _row(["---"] * len(head))]
    for sc in SCENARIOS:
        if sc.key not in keys:
            continue
        idle = sc.mode == "idle"
        metric = "kib_per_conn" if idle else "server_cpu_us_per_msg"
        unit = "KiB/conn" if idle else ("CPU µs/handshake" if sc.mode == "churn" else "CPU µs/msg")
        for name in ours:
            mine = summarize(res, sc.key, name)
            if "na" in mine:
                continue
            peer, theirs = best_peer(res, sc.key, name, metric)
            if peer is None:
                continue
            rate_peer, rate = (None, None) if idle else best_peer(res, sc.key, name,
                                                                  "messages_per_sec")
            lines.append(_row([
                sc.key, name, f"{_num(mine.get(metric), 2)} {unit}", peer, _num(theirs, 2),
                _x(ratio(mine.get(metric), theirs)), rate_peer or "–",
                _x(ratio(mine.get("messages_per_sec"), rate)) if rate_peer else "–"]))
    return lines
