"""Running the matrix: every scenario group, every run, every server, interleaved."""

from dataclasses import dataclass, field
from typing import Optional

from . import procs
from .impls import IMPLS
from .paths import LOGS
from .scenarios import SCENARIOS, Scenario, loadgen_cmd, run_loadgen

SERVER_CPU = "0"
CLIENT_CPU = "1"


@dataclass
class Config:
    """What to run and for how long."""

    impls: list[str]
    scenarios: list[str]
    secs: float
    runs: int
    idle_runs: int
    warmup: float
    idle_hold: float
    pin: bool = True
    # Whether variants run only their own scenarios (`Impl.scenarios`): in a run of every server,
    # not when the servers were named.
    variants_trimmed: bool = True


@dataclass
class Results:
    """Everything measured: per (scenario, impl), the figures of each run."""

    unavailable: dict[str, str] = field(default_factory=dict)
    runs: dict[tuple[str, str], list[dict]] = field(default_factory=dict)
    skipped: dict[tuple[str, str], str] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)


def _groups(scs: list[Scenario]) -> list[tuple[str, list[Scenario]]]:
    order: list[str] = []
    for s in scs:
        if s.group not in order:
            order.append(s.group)
    return [(g, [s for s in scs if s.group == g]) for g in order]


def _connections(sc: Scenario) -> int:
    """How many connections a scenario opens (its `--connections`)."""
    args = list(sc.args)
    return int(args[args.index("--connections") + 1]) if "--connections" in args else 1


def _short(r: dict) -> str:
    if "error" in r:
        return f"error: {r['error']}"
    if r.get("mode") == "idle":
        return f"{r.get('kib_per_conn')} KiB/conn, {r.get('connections_ok')} conns"
    return (f"{r.get('messages_per_sec', 0):.0f}/s, "
            f"{r.get('server_cpu_us_per_msg') or 0:.2f} us CPU/msg, errors {r.get('errors')}")


def run_matrix(cfg: Config) -> Results:
    """Prepare every server, then run each group's scenarios A B A B … per run."""
    res = Results()
    for name in cfg.impls:
        why = IMPLS[name].prepare()
        if why:
            res.unavailable[name] = why
    scs = [s for s in SCENARIOS if s.key in cfg.scenarios]
    for group, members in _groups(scs):
        deflate = group == "deflate"
        nruns = cfg.idle_runs if group.startswith("idle") else cfg.runs
        names = [n for n in cfg.impls if n not in res.unavailable]
        if deflate:
            for n in [n for n in names if not IMPLS[n].deflate]:
                for s in members:
                    res.skipped[(s.key, n)] = "no permessage-deflate"
            names = [n for n in names if IMPLS[n].deflate]
        for n in list(names):
            only = IMPLS[n].scenarios
            if only is not None and cfg.variants_trimmed:
                for s in members:
                    if s.key not in only:
                        res.skipped[(s.key, n)] = "not run for this variant (`Impl.scenarios`)"
                if not any(s.key in only for s in members):
                    names.remove(n)
        need = max(_connections(s) for s in members) + 1024
        limit = procs.raise_nofile()
        if limit < need:
            for n in names:
                for s in members:
                    res.skipped[(s.key, n)] = (
                        f"RLIMIT_NOFILE is {limit} and cannot be raised to {need} here "
                        "(no CAP_SYS_RESOURCE for the hard limit)")
            continue
        for r in range(nruns):
            for name in names:
                _one_server(cfg, res, name, members, deflate, f"{r + 1}/{nruns}")
    return res


def _one_server(cfg: Config, res: Results, name: str, members: list[Scenario], deflate: bool,
                label: str) -> None:
    impl = IMPLS[name]
    port = procs.free_port()
    cmd = impl.command(port, deflate)
    res.commands[name + (" (deflate)" if deflate else "")] = cmd
    try:
        srv = procs.Server(cmd, port, LOGS / f"server-{name}.log", env=impl.env(),
                           cpu=SERVER_CPU if cfg.pin else None)
    except OSError as e:
        for s in members:
            res.runs.setdefault((s.key, name), []).append({"error": f"cannot start: {e}"})
        return
    try:
        why = srv.wait_ready()
        for s in members:
            if (s.key, name) in res.skipped:
                continue
            if why:
                r = {"error": f"server did not start: {why}"}
            else:
                lg = loadgen_cmd(s, name, port, srv.pid, cfg.secs, cfg.warmup, cfg.idle_hold,
                                 CLIENT_CPU if cfg.pin else None)
                res.commands.setdefault(f"loadgen {s.key}", lg)
                r = run_loadgen(lg, timeout=cfg.secs + cfg.warmup + cfg.idle_hold + 180)
                if srv.proc.poll() is not None:
                    r = {"error": f"server exited during the run: {srv.log_tail()}"}
            res.runs.setdefault((s.key, name), []).append(r)
            print(f"[bench] {s.key:4} run {label} {name:18} {_short(r)}", flush=True)
    finally:
        srv.stop()
