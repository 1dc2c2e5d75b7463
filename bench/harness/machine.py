"""The machine and the versions a benchmark ran with, for the report."""

import json
import os
import re
import subprocess

from .impls import NODE_DIR, VENV
from .paths import PEERS, ROOT

CRATES = ("tokio", "tokio-tungstenite", "tungstenite", "fastwebsockets", "flate2", "hdrhistogram")


def _out(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT).stdout.strip()
    except OSError:
        return "n/a"


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def loadavg() -> str:
    """The 1/5/15-minute load averages."""
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "n/a"


def machine() -> dict:
    """nproc, CPU model, kernel, memory."""
    mem = "n/a"
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
            mem = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu_model(), "kernel": os.uname().release,
            "memory": mem}


def _lock_versions() -> dict:
    try:
        text = (ROOT / "Cargo.lock").read_text()
    except OSError:
        return {}
    found = {}
    for name, ver in re.findall(r'name = "([^"]+)"\nversion = "([^"]+)"', text):
        if name in CRATES:
            found.setdefault(name, ver)
    return found


def _pip_versions() -> dict:
    wanted = {line.split("==")[0].strip().lower()
              for line in (PEERS / "requirements.txt").read_text().splitlines()
              if "==" in line and not line.startswith("#")}
    freeze = _out([str(VENV / "bin" / "python"), "-m", "pip", "freeze"])
    return {n: v for n, _, v in (ln.partition("==") for ln in freeze.splitlines())
            if n.lower() in wanted}


def _npm_version(pkg: str) -> str:
    try:
        return json.loads((NODE_DIR / "node_modules" / pkg / "package.json").read_text())["version"]
    except (OSError, KeyError, ValueError):
        return "n/a"


def _uws_source_commit() -> str:
    """The uWebSockets.js commit whose binaries the npm `uwebsockets` package republishes."""
    try:
        return (NODE_DIR / "node_modules" / "uwebsockets" / "source_commit").read_text().strip()
    except OSError:
        return "n/a"


def versions() -> dict:
    """Toolchains, crates, Python and npm packages."""
    return {
        "rustc": _out(["rustc", "--version"]),
        "node": _out(["node", "--version"]),
        "python (peers venv)": _out([str(VENV / "bin" / "python"), "--version"]),
        "crates": _lock_versions(),
        "pip": _pip_versions(),
        "npm": {p: _npm_version(p) for p in ("ws", "bufferutil", "utf-8-validate", "uwebsockets")},
        "uwebsockets source_commit": _uws_source_commit(),
        "git": _out(["git", "rev-parse", "--short", "HEAD"]),
    }
