"""Writing BENCHMARKS.md and target/bench/results.json."""

import json
import time
from pathlib import Path

from . import machine, table
from .matrix import Config, Results
from .paths import WORK

METHOD = """\
- Each server runs alone, pinned with `taskset -c 0`; `loadgen` (Rust, one current-thread tokio
  runtime, hand-rolled client with pre-masked frames) is pinned with `taskset -c 1`.
- Runs are interleaved (A B C … A B C …) per scenario group, and each figure is the **median** of
  the runs; `runs` says how many succeeded. A fresh server process serves each group: (a)–(d),
  (e), (f) and (g) each start their own.
- Echo scenarios keep one message in flight per connection for the window, after an unmeasured
  warm-up. **Server CPU µs/msg** = Δ(utime+stime) of the server process from `/proc/PID/stat`
  over the window ÷ messages echoed in it (10 ms tick resolution); it is the figure least
  disturbed by a noisy machine. MB/s counts payload one way. **CPU % srv/cli** is the share of
  one core the server and loadgen used over the window: a server below ~100 % was held back by
  the client or by other load on the machine, so read its msg/s with care.
- Churn: 16 loops of connect → handshake → close frame → wait for the server's TCP close.
- Idle: KiB/conn = (server VmRSS with N connections open − VmRSS before) ÷ N, sampled 0.5 s after
  the last handshake; then one 32 B echo on every connection proves they are alive. Past 25,000
  connections loadgen binds them to 127.0.0.2, .3, … (25,000 each: the ephemeral port range is per
  source address), and the harness raises RLIMIT_NOFILE (hard limit too, as root) to 262,144.
- Ratios: "vs peer" compares with the same-language reference named in the cell (Rust →
  tokio-tungstenite, C → Rust core, Python asyncio → websockets, Python callback → picows, Node →
  ws, uWebSockets.js → ws, other Python peers → websockets); the best-peer table ranks each surface
  against the fastest peer of its language in the same run; "vs raw TCP" with the plain TCP echo (for (g), the raw TCP
  figure of (b) or (c)). For CPU and KiB lower is better; for msg/s higher is better.
- picows runs on uvloop (`uvloop.run`); `websockets-uvloop` is `websockets` with uvloop's loop.
- Payloads are word-like ASCII from a fixed seed (compressible like chat text); deflate runs offer
  `permessage-deflate; client_no_context_takeover`; peers without deflate are skipped in (g).
- Rust peers use a current-thread tokio runtime (the server has one core); `--workers N` switches.
  Our own servers run as they ship (their runtime choice included), on the same single core.
- Compression settings are each server's defaults with compression on: `ws` skips messages under
  its 1 KiB `threshold`, so its (g)-(b) replies are mostly uncompressed; `websockets`, `aiohttp`
  and the Rust core compress every message.
"""


def _fmt_versions(v: dict) -> list[str]:
    lines = [f"- rustc: `{v['rustc']}`; node: `{v['node']}`; {v['python (peers venv)']} (peers venv)"]
    lines.append("- crates: " + ", ".join(f"{k} {x}" for k, x in v["crates"].items()))
    lines.append("- PyPI: " + ", ".join(f"{k} {x}" for k, x in v["pip"].items()))
    lines.append("- npm: " + ", ".join(f"{k} {x}" for k, x in v["npm"].items())
                 + f" (uWebSockets.js `source_commit` {v['uwebsockets source_commit']})")
    lines.append(f"- wssession commit: `{v['git']}`")
    return lines


def _best_peer_section(res: Results, cfg: Config) -> list[str]:
    rows = table.best_peer_table(res, cfg.impls, cfg.scenarios)
    if len(rows) <= 2:
        return []
    return [
        "## Against the best peer of each language (issue 19)",
        "",
        "Each of our surfaces against the fastest library of its language measured in the same run "
        "(C against the Rust peers): the peer with the lowest server CPU per echo or handshake (or "
        "KiB per idle connection), and separately the one with the highest msg/s. Lower CPU/KiB "
        "ratios and higher msg/s ratios are better.",
        "",
        *rows,
        "",
    ]


def _hosted_section(res: Results, cfg: Config) -> list[str]:
    rows = table.hosted_table(res, cfg.impls, cfg.scenarios)
    if not rows:
        return []
    return [
        "## Node behind a host's server (issue 12)",
        "",
        "The same echo server (`bench/servers/node_echo.js`) on its own listener, behind a Node "
        "`http.Server` (`--http`: each upgraded socket's fd is handed to the engine) and behind an "
        "`https.Server` (`--https`: Node terminates TLS, loadgen connects with `wss://` trusting the "
        "harness's self-signed certificate, bytes go through the byte pump). Target: the fd-handover "
        "row ≤ 1.05× the server CPU per echo of the own listener; the TLS row has no bound (it pays "
        "for TLS and the pump). \"Per round\" is the median of the ratios within each interleaved "
        "round, the least disturbed by load that moves between rounds.",
        "",
        *rows,
        "",
    ]


def _logging_section(res: Results, cfg: Config) -> list[str]:
    rows = table.logging_table(res, cfg.impls, cfg.scenarios)
    if not rows:
        return []
    return [
        "## Logging at INFO (issue 16)",
        "",
        "The Rust core's echo example with `--log-file` (its records at INFO and above through the log "
        "bridge, a line each, to a file) and the Python echo server with `--log-file` (`logger=` at "
        "INFO with a `logging.FileHandler`), against the same servers with logging off, interleaved "
        "in the same run. INFO records are per connection (open, close, refusals), never per message, "
        "so the target is ≤ 1.02× the server CPU per echo; \"per round\" is the median of the ratios "
        "within each interleaved round.",
        "",
        *rows,
        "",
    ]


def write(res: Results, cfg: Config, out: Path, command: str, started: float,
          load_before: str) -> None:
    """Write the markdown report and the raw per-run JSON."""
    m = machine.machine()
    wall = time.time() - started
    lines = [
        "# Benchmarks",
        "",
        "> **Provisional figures.** The machine is shared with other engineers' builds and "
        "benchmarks, so absolute numbers move from run to run; compare ratios within one run, "
        "and prefer server CPU µs/msg over msg/s.",
        "",
        f"Command: `{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}, "
        f"{wall / 60:.1f} min wall; {cfg.secs:g} s windows after {cfg.warmup:g} s warm-up, "
        f"{cfg.runs} runs, {cfg.idle_runs} for idle scenarios).",
        "",
        "Reproduce: `make bench` (all of it, `BENCH_SECS`, `BENCH_RUNS`, `BENCH_IMPLS`, "
        "`BENCH_SCENARIOS` to change it) or one server: "
        "`make bench-server IMPL=<name> PORT=9001 [DEFLATE=1]`.",
        "",
        "## Machine",
        "",
        f"- {m['nproc']} CPUs: {m['cpu']}; {m['memory']} RAM; Linux {m['kernel']}",
        f"- load average before: {load_before}; after: {machine.loadavg()}",
        "",
        "## Versions",
        "",
        *_fmt_versions(machine.versions()),
        "",
        "## Method",
        "",
        METHOD,
        "## Targets (issues 7, 12 and 19)",
        "",
        *table.targets_table(res),
        "",
        "Where the time goes for each row that is or was missed (profiles, what was done, what would "
        "close the rest): [`bench/PROFILES.md`](bench/PROFILES.md).",
        "",
        *_best_peer_section(res, cfg),
        *_hosted_section(res, cfg),
        *_logging_section(res, cfg),
        "## Results",
        "",
        *table.all_tables(res, cfg.impls, cfg.scenarios),
    ]
    if res.unavailable:
        lines += ["## Not available in this run", ""]
        lines += [f"- `{k}`: {v}" for k, v in res.unavailable.items()]
        lines.append("")
    out.write_text("\n".join(lines))
    WORK.mkdir(parents=True, exist_ok=True)
    raw = {"config": cfg.__dict__, "unavailable": res.unavailable,
           "commands": {k: " ".join(v) for k, v in res.commands.items()},
           "runs": {f"{k[0]} {k[1]}": v for k, v in res.runs.items()}}
    (WORK / "results.json").write_text(json.dumps(raw, indent=1))
