"""The echo servers: how each is prepared (built or installed) and how it is started.

Every `prepare` returns None when the server is ready to start, or the reason it is
not available; a missing or failing server is reported, never fatal.
"""

import filecmp
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from . import procs
from .paths import BENCH, LOGS, PEERS, ROOT, TARGET, WORK

NICE = ["nice", "-n", "10"]
VENV = WORK / "venv"
NODE_DIR = WORK / "node"
# The self-signed certificate (and key) of the TLS servers; loadgen trusts exactly this one.
TLS_DIR = WORK / "tls"
TLS_CERT = TLS_DIR / "cert.pem"
TLS_KEY = TLS_DIR / "key.pem"


@dataclass
class Impl:
    """One echo server implementation."""

    name: str
    lang: str
    # The implementation this one is compared with ("peer of the same language").
    peer: Optional[str]
    # Whether it offers permessage-deflate with --deflate.
    deflate: bool
    prepare: Callable[[], Optional[str]]
    command: Callable[[int, bool], list[str]]
    env: Callable[[], Optional[dict]] = field(default=lambda: None)
    # Whether it serves wss:// with the harness's certificate (TLS_CERT) instead of ws://.
    tls: bool = False
    # The scenarios it runs (None: all): a variant compared on a few rows keeps `make bench` short.
    scenarios: Optional[tuple[str, ...]] = None


_prepared: dict[str, Optional[str]] = {}


def once(key: str, fn: Callable[[], Optional[str]]) -> Callable[[], Optional[str]]:
    """Run a preparation step at most once per process."""

    def wrapper() -> Optional[str]:
        if key not in _prepared:
            print(f"[bench] preparing {key} ...", flush=True)
            _prepared[key] = fn()
            if _prepared[key]:
                print(f"[bench] {key}: not available: {_prepared[key]}", flush=True)
        return _prepared[key]

    return wrapper


def _cargo(args: list[str], log: str) -> Optional[str]:
    ok, tail = procs.run(NICE + ["cargo"] + args, log=LOGS / log, cwd=ROOT)
    return None if ok else f"`cargo {' '.join(args)}` failed: {tail[-200:]}"


def bench_bin(name: str) -> Path:
    """A binary of the wssession-bench crate (release profile)."""
    return TARGET / "release" / name


def _build_bench() -> Optional[str]:
    return _cargo(["build", "--release", "--locked", "-p", "wssession-bench"], "build-bench.log")


build_bench = once("wssession-bench (cargo)", _build_bench)


def _build_rust() -> Optional[str]:
    if not (ROOT / "core" / "examples" / "echo.rs").exists():
        return "core/examples/echo.rs missing"
    return _cargo(["build", "--release", "--locked", "-p", "wssession-core", "--example", "echo"],
                  "build-rust-echo.log")


def _build_c() -> Optional[str]:
    why = _make_if_target("build-c")
    if why:
        return why
    if not (ROOT / "target" / "c" / "echo_server").exists():
        return "target/c/echo_server missing after `make build-c`"
    return None


def _check_python() -> Optional[str]:
    if not (BENCH / "servers" / "python_echo.py").exists():
        return "bench/servers/python_echo.py missing"
    if not (ROOT / ".venv" / "bin" / "python").exists():
        return ".venv missing (made by `make test`)"
    return None


def _make_if_target(target: str) -> Optional[str]:
    """Run `make TARGET` when the Makefile has it; None on success, else why not."""
    probe = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True)
    if probe.returncode != 0:
        return f"no `make {target}` target"
    ok, tail = procs.run(NICE + ["make", target], log=LOGS / f"make-{target}.log", cwd=ROOT)
    return None if ok else f"`make {target}` failed: {tail[-200:]}"


def _check_node() -> Optional[str]:
    if not (BENCH / "servers" / "node_echo.js").exists():
        return "bench/servers/node_echo.js missing"
    if not (ROOT / "node_modules" / "wssession").exists():
        why = _make_if_target("node-install")
        if why:
            return f"node_modules/wssession missing and {why}"
    if not (ROOT / "node_modules" / "wssession").exists():
        return "node_modules/wssession missing (root `npm ci`)"
    return None


def _install_venv() -> Optional[str]:
    req = PEERS / "requirements.txt"
    stamp = VENV / "requirements.stamp"
    if stamp.exists() and filecmp.cmp(req, stamp, shallow=False):
        return None
    if not (VENV / "bin" / "python").exists():
        ok, tail = procs.run(["python3", "-m", "venv", str(VENV)], log=LOGS / "venv.log")
        if not ok:
            return f"venv creation failed: {tail[-200:]}"
    ok, tail = procs.run([str(VENV / "bin" / "pip"), "install", "-q", "-r", str(req)],
                         log=LOGS / "pip.log")
    if not ok:
        return f"pip install failed: {tail[-200:]}"
    shutil.copyfile(req, stamp)
    return None


def _install_node() -> Optional[str]:
    lock = PEERS / "package-lock.json"
    stamp = NODE_DIR / "lock.stamp"
    if stamp.exists() and filecmp.cmp(lock, stamp, shallow=False):
        return None
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    for f in ("package.json", "package-lock.json"):
        shutil.copyfile(PEERS / f, NODE_DIR / f)
    ok, tail = procs.run(["npm", "ci", "--no-audit", "--no-fund"], log=LOGS / "npm.log",
                         cwd=NODE_DIR)
    if not ok:
        return f"npm ci failed: {tail[-200:]}"
    shutil.copyfile(lock, stamp)
    return None


def _make_cert() -> Optional[str]:
    """A self-signed EC P-256 end-entity certificate for 127.0.0.1/localhost, made with openssl (kept between runs)."""
    if TLS_CERT.exists() and TLS_KEY.exists():
        return None
    TLS_DIR.mkdir(parents=True, exist_ok=True)
    ok, tail = procs.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                          "ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650",
                          "-subj", "/CN=localhost",
                          "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                          # An end-entity certificate: webpki refuses a CA one as the server's.
                          "-addext", "basicConstraints=critical,CA:FALSE",
                          "-keyout", str(TLS_KEY), "-out", str(TLS_CERT)],
                         log=LOGS / "openssl.log")
    return None if ok else f"openssl req failed: {tail[-200:]}"


build_rust = once("rust (core/examples/echo)", _build_rust)
build_c = once("c (make build-c)", _build_c)
check_python = once("python (bench/servers/python_echo.py)", _check_python)
check_node = once("node (bench/servers/node_echo.js)", _check_node)
install_venv = once("python peers (pip, target/bench/venv)", _install_venv)


# uvloop for our own server: only uvloop from the peers' venv, on PYTHONPATH (nothing else shadows .venv).
UVLOOP_ONLY = WORK / "uvloop-only"


def _check_python_uvloop() -> Optional[str]:
    why = check_python() or install_venv()
    if why:
        return why
    found = sorted(VENV.glob("lib/python3*/site-packages/uvloop"))
    if not found:
        return "uvloop missing from target/bench/venv"
    UVLOOP_ONLY.mkdir(parents=True, exist_ok=True)
    link = UVLOOP_ONLY / "uvloop"
    if not link.exists():
        link.symlink_to(found[0], target_is_directory=True)
    return None


def _uvloop_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(UVLOOP_ONLY)
    return env


install_node = once("node peers (npm, target/bench/node)", _install_node)
make_cert = once("tls certificate (openssl, target/bench/tls)", _make_cert)


def _check_node_tls() -> Optional[str]:
    return check_node() or make_cert()


def _flag(deflate: bool) -> list[str]:
    return ["--deflate"] if deflate else []


def _py_peer(script: str, *extra: str) -> Callable[[int, bool], list[str]]:
    return lambda port, d: [str(VENV / "bin" / "python"), str(PEERS / script),
                            "--port", str(port), *extra, *_flag(d)]


def _own_python(*extra: str) -> Callable[[int, bool], list[str]]:
    return lambda port, d: [str(ROOT / ".venv" / "bin" / "python"),
                            str(BENCH / "servers" / "python_echo.py"),
                            "--port", str(port), *extra, *_flag(d)]


def _bench_server(name: str) -> Callable[[int, bool], list[str]]:
    return lambda port, d: [str(bench_bin(name)), "--port", str(port), *_flag(d)]


# The scenarios of a mode compared on the echo rows only (the host-loop variants).
ECHO_ONLY = ("a", "b", "c")


def _node_env() -> dict:
    env = dict(os.environ)
    env["NODE_PATH"] = str(NODE_DIR / "node_modules")
    return env


IMPLS: dict[str, Impl] = {i.name: i for i in [
    Impl("rust", "Rust", "tokio-tungstenite", True, build_rust,
         lambda port, d: [str(TARGET / "release" / "examples" / "echo"), "--port", str(port),
                          *_flag(d)]),
    # Issue 19: the task-per-connection mode (`SessionConfig::no_idle_tasks = false`; the default
    # keeps no task while a connection is idle), beside the default on the rows it differs on.
    Impl("rust-idle-tasks", "Rust", "rust", True, build_rust,
         lambda port, d: [str(TARGET / "release" / "examples" / "echo"), "--port", str(port),
                          "--idle-tasks", *_flag(d)], scenarios=("b", "d", "f")),
    Impl("c", "C", "rust", True, build_c,
         lambda port, d: [str(ROOT / "target" / "c" / "echo_server"), str(port), *_flag(d)]),
    Impl("python", "Python", "websockets", True, check_python, _own_python()),
    Impl("python-callback", "Python", "picows", True, check_python, _own_python("--callback")),
    # Issue 19: `serve(host_loop=True)`, the asyncio loop reads the sockets (no engine-thread hop).
    Impl("python-hostloop", "Python", "picows", True, check_python, _own_python("--host-loop"),
         scenarios=ECHO_ONLY),
    Impl("python-callback-hostloop", "Python", "picows", True, check_python,
         _own_python("--callback", "--host-loop"), scenarios=ECHO_ONLY),
    Impl("python-hostloop-uvloop", "Python", "picows", True, _check_python_uvloop,
         _own_python("--host-loop", "--uvloop"), _uvloop_env, scenarios=ECHO_ONLY + ("d", "f")),
    Impl("python-callback-hostloop-uvloop", "Python", "picows", True, _check_python_uvloop,
         _own_python("--callback", "--host-loop", "--uvloop"), _uvloop_env, scenarios=ECHO_ONLY),
    Impl("node", "Node", "ws", True, check_node,
         lambda port, d: ["node", str(BENCH / "servers" / "node_echo.js"), "--port", str(port),
                          *_flag(d)]),
    # Issue 19: `hostLoop: true`, Node's libuv loop reads the sockets (no engine-thread hop).
    Impl("node-hostloop", "Node", "uws", True, check_node,
         lambda port, d: ["node", str(BENCH / "servers" / "node_echo.js"), "--port", str(port),
                          "--host-loop", *_flag(d)], scenarios=ECHO_ONLY + ("d", "f")),
    Impl("node-http", "Node", "node", True, check_node,
         lambda port, d: ["node", str(BENCH / "servers" / "node_echo.js"), "--port", str(port),
                          "--http", *_flag(d)]),
    Impl("node-https", "Node", "node", True, _check_node_tls,
         lambda port, d: ["node", str(BENCH / "servers" / "node_echo.js"), "--port", str(port),
                          "--https", str(TLS_CERT), str(TLS_KEY), *_flag(d)],
         tls=True),
    Impl("tokio-tungstenite", "Rust", None, False, build_bench,
         _bench_server("echo-tokio-tungstenite")),
    Impl("fastwebsockets", "Rust", "tokio-tungstenite", False, build_bench,
         _bench_server("echo-fastwebsockets")),
    Impl("rawtcp", "TCP", None, False, build_bench, _bench_server("echo-rawtcp")),
    Impl("ws", "Node", None, True, install_node,
         lambda port, d: ["node", str(PEERS / "ws_echo.js"), "--port", str(port), *_flag(d)],
         _node_env),
    Impl("uws", "Node", "ws", True, install_node,
         lambda port, d: ["node", str(PEERS / "uws_echo.js"), "--port", str(port), *_flag(d)],
         _node_env),
    Impl("websockets", "Python", None, True, install_venv, _py_peer("websockets_echo.py")),
    Impl("websockets-uvloop", "Python", "websockets", True, install_venv,
         _py_peer("websockets_echo.py", "--uvloop")),
    Impl("picows", "Python", "websockets", False, install_venv, _py_peer("picows_echo.py")),
    Impl("aiohttp", "Python", "websockets", True, install_venv, _py_peer("aiohttp_echo.py")),
]}

# Issue 16: our Rust and Python servers with their log records at INFO written to a file, each
# compared with its twin above (logging off).
IMPLS.update({i.name: i for i in [
    Impl("rust-log-info", "Rust", "rust", True, build_rust,
         lambda port, d: [str(TARGET / "release" / "examples" / "echo"), "--port", str(port),
                          "--log-file", str(LOGS / "records-rust-log-info.log"), *_flag(d)],
         scenarios=("a", "b")),
    Impl("python-log-info", "Python", "python", True, check_python,
         _own_python("--log-file", str(LOGS / "records-python-log-info.log")), scenarios=("a", "b")),
]})

# Before/after in one run: with BENCH_BEFORE_DIR set to a directory holding another build's `echo`
# (core/examples/echo) and `echo_server` (examples/c), "rust-before" and "c-before" run them; with
# another build's Python package there (BENCH_BEFORE_DIR/wssession, e.g. copied from main's
# .venv site-packages), "python-before" and "python-hostloop-uvloop-before" run our echo server on
# it (ahead of .venv's on PYTHONPATH); with BENCH_BEFORE_DIR/node/node_modules/wssession (index.js, lib/,
# package.json and the .node addon of another build) beside a copy of bench/servers/node_echo.js in
# BENCH_BEFORE_DIR/node, "node-before" and "node-hostloop-before" run it. Their "vs peer" column is
# before ÷ the current build.
BEFORE_DIR = os.environ.get("BENCH_BEFORE_DIR")
BEFORE = (("rust-before", "c-before", "python-before", "python-hostloop-uvloop-before", "node-before",
           "node-hostloop-before") if BEFORE_DIR else ())


def _before_bin(name: str) -> Callable[[], Optional[str]]:
    path = Path(BEFORE_DIR or ".") / name
    return lambda: None if path.exists() else f"{path} missing (BENCH_BEFORE_DIR)"


def _before_env(uvloop: bool) -> Callable[[], dict]:
    def env() -> dict:
        e = _uvloop_env() if uvloop else dict(os.environ)
        e["PYTHONPATH"] = os.pathsep.join([str(BEFORE_DIR), *([str(UVLOOP_ONLY)] if uvloop else [])])
        return e

    return env


if BEFORE_DIR:
    IMPLS.update({i.name: i for i in [
        Impl("rust-before", "Rust", "rust", True, _before_bin("echo"),
             lambda port, d: [str(Path(BEFORE_DIR) / "echo"), "--port", str(port), *_flag(d)]),
        Impl("c-before", "C", "c", True, _before_bin("echo_server"),
             lambda port, d: [str(Path(BEFORE_DIR) / "echo_server"), str(port), *_flag(d)]),
        Impl("python-before", "Python", "python", True,
             lambda: check_python() or _before_bin("wssession")(), _own_python(), _before_env(False)),
        Impl("python-hostloop-uvloop-before", "Python", "python-hostloop-uvloop", True,
             lambda: _check_python_uvloop() or _before_bin("wssession")(),
             _own_python("--host-loop", "--uvloop"), _before_env(True)),
        Impl("node-before", "Node", "node", True, _before_bin("node/node_echo.js"),
             lambda port, d: ["node", str(Path(BEFORE_DIR) / "node" / "node_echo.js"), "--port", str(port),
                              *_flag(d)]),
        Impl("node-hostloop-before", "Node", "node-hostloop", True, _before_bin("node/node_echo.js"),
             lambda port, d: ["node", str(Path(BEFORE_DIR) / "node" / "node_echo.js"), "--port", str(port),
                              "--host-loop", *_flag(d)], scenarios=ECHO_ONLY + ("d", "f")),
    ]})

# Our surfaces; every other server is a peer library (or the raw TCP ceiling).
OURS = ("rust", "rust-idle-tasks", "c", "python", "python-callback", "python-hostloop", "python-callback-hostloop",
        "python-hostloop-uvloop", "python-callback-hostloop-uvloop", "node", "node-hostloop", "node-http",
        "node-https", "rust-log-info", "python-log-info", *BEFORE)
# Whose peer libraries a surface is ranked against: its own language's (C against Rust's).
PEER_LANG = {"C": "Rust"}


def peers_of(name: str) -> list[str]:
    """The peer libraries of the same language as NAME (the candidates for its best peer)."""
    lang = PEER_LANG.get(IMPLS[name].lang, IMPLS[name].lang)
    return [n for n, i in IMPLS.items() if n not in OURS and i.lang == lang]
