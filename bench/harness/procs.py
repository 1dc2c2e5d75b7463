"""Starting, waiting for and stopping processes; every server started is stopped at exit."""

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

_live: list[subprocess.Popen] = []


def run(cmd: list[str], log: Optional[Path] = None, cwd: Optional[Path] = None,
        env: Optional[dict] = None) -> tuple[bool, str]:
    """Run a preparation command to completion; (ok, tail of its output)."""
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    except OSError as e:
        return False, str(e)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(p.stdout)
    return p.returncode == 0, p.stdout[-600:].strip()


def free_port() -> int:
    """A port the kernel just handed out on 127.0.0.1 (then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    """True when 127.0.0.1:port accepts a TCP connection."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Server:
    """A server process in its own session, started by us and stopped by us."""

    def __init__(self, cmd: list[str], port: int, log: Path, env: Optional[dict] = None,
                 cpu: Optional[str] = None):
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log
        self.port = port
        prefix = ["taskset", "-c", cpu] if cpu is not None else []
        with open(log, "wb") as out:
            # taskset execs the server, so the pid is the server's own.
            self.proc = subprocess.Popen(prefix + cmd, stdout=out, stderr=subprocess.STDOUT,
                                         env=env, start_new_session=True)
        _live.append(self.proc)

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.proc.pid

    def wait_ready(self, timeout: float = 30.0) -> Optional[str]:
        """Poll connect until the port accepts (bounded); None when ready, else why not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"exited with {self.proc.returncode}: {self.log_tail()}"
            if port_open(self.port):
                return None
            time.sleep(0.05)
        return f"port {self.port} not accepting after {timeout:.0f} s: {self.log_tail()}"

    def log_tail(self) -> str:
        """Last lines of the server's output, on one line."""
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-3:])[-300:]

    def stop(self) -> None:
        """SIGTERM the server's process group, SIGKILL after 3 s."""
        _stop(self.proc)
        if self.proc in _live:
            _live.remove(self.proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def stop_all() -> None:
    """Stop every server still running (atexit and signal handler)."""
    for proc in list(_live):
        _stop(proc)
    _live.clear()


def _on_signal(signum, _frame):
    stop_all()
    sys.exit(128 + signum)


def install_cleanup() -> None:
    """Stop our servers on normal exit, exceptions, SIGINT, SIGTERM and SIGHUP."""
    atexit.register(stop_all)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)


def raise_nofile(want: int = 262144) -> int:
    """Raise RLIMIT_NOFILE (inherited by servers and loadgen); the soft limit now in force.

    The hard limit is raised too where the process may (root): 100,000 idle connections need
    100,000 descriptors in the server and as many in loadgen.
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, want))
            hard = want
        except (ValueError, OSError):
            pass
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft
