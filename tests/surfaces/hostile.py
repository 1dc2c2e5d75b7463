#!/usr/bin/env python3
"""The hostile peers of core/tests/reliability.rs against every surface's echo server.

    hostile.py [--surface core|c|python|node ...]

Each echo server (the echo-server contract: core/examples/echo.rs, target/c/echo_server,
bench/servers/python_echo.py, bench/servers/node_echo.js) meets, in turn: peers that vanish mid-frame,
peers that send but never read, a ping flood from a peer that never reads, slowloris handshakes,
2,000 idle connections, and connect/close churn. After each, a good client must still be served and
the server's open file descriptors must return to their baseline; the churn runs twice and the
server's RSS must not grow from the first run to the second (a leak grows with every cycle).
Prints one table, peer x surface (fds after, RSS); exits 1 on any failure. A missing server fails.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from wire import Raw, upgrade_head, wait_for

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
SURFACES = ("core", "c", "python", "node")
IDLE = int(os.environ.get("HOSTILE_IDLE", "2000"))
CHURN = int(os.environ.get("HOSTILE_CHURN", "1000"))
# RSS may move by allocator noise between two identical churn runs; a per-connection leak of even
# 8 KiB would add CHURN * 8 KiB.
RSS_SLACK_KIB = 6 * 1024


def command(surface: str, port: int) -> list[str]:
    return {
        "core": [str(TARGET / "release/examples/echo"), "--port", str(port), "--deflate"],
        "c": [str(ROOT / "target/c/echo_server"), str(port), "--deflate"],
        "python": [str(ROOT / ".venv/bin/python"), str(ROOT / "bench/servers/python_echo.py"), "--port", str(port), "--deflate"],
        "node": ["node", str(ROOT / "bench/servers/node_echo.js"), "--port", str(port), "--deflate"],
    }[surface]


class Server:
    def __init__(self, surface: str) -> None:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        cmd = command(surface, self.port)
        if cmd[0] != "node" and not Path(cmd[0]).exists():
            raise AssertionError(f"{surface} echo server missing: {cmd[0]}")
        log = open(TARGET / f"surfaces/hostile-{surface}.log", "wb")
        # The servers get the same descriptor limit as this driver (2,000 idle connections).
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        wait_for(f"{surface} echo server listening", self._listening, 30)

    def _listening(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"echo server exited ({self.proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def rss_kib(self) -> int:
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def served(srv: Server) -> None:
    r = Raw(srv.port, "/")
    r.send_frame(1, b"still serving")
    f = r.next_data()
    if f.payload != b"still serving":
        raise AssertionError(f"echo: {f}")
    r.close_frame(1000)
    r.expect_close()
    r.close()


# ---------------------------------------------------------------- the peers


def vanish_mid_frame(srv: Server) -> None:
    peers = [Raw(srv.port, "/") for _ in range(100)]
    for r in peers:
        r.sock.sendall(b"\x82\xfe\x10\x00" + os.urandom(4) + b"x" * 100)  # 4 KiB announced, 100 B sent
    for r in peers:
        r.reset()


def non_readers(srv: Server) -> None:
    peers = [Raw(srv.port, "/", rcvbuf=16384) for _ in range(10)]
    blob = os.urandom(256 << 10)
    for r in peers:
        r.sock.settimeout(0.2)
        try:  # until the server stops reading (its queue full, then TCP backpressure)
            for _ in range(64):
                r.send_frame(2, blob)
        except (TimeoutError, BlockingIOError):
            pass
    served(srv)
    for r in peers:
        r.reset()


def ping_flood(srv: Server) -> None:
    r = Raw(srv.port, "/", rcvbuf=16384)
    r.sock.settimeout(0.2)
    frame = bytes([0x89, 0x80 | 125]) + b"\0\0\0\0" + b"p" * 125
    try:
        for _ in range(200):
            r.sock.sendall(frame * 100)
    except (TimeoutError, BlockingIOError):
        pass  # the server stopped reading: its Pong queue is bounded
    served(srv)
    r.reset()


def slowloris(srv: Server) -> None:
    peers = []
    for _ in range(50):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(upgrade_head("/")[:40])  # a request head that never ends
        peers.append(s)
    served(srv)
    for s in peers:
        s.close()


def idle(srv: Server) -> None:
    peers = [Raw(srv.port, "/") for _ in range(IDLE)]
    wait_for(f"{IDLE} connections open on the server", lambda: srv.fds() >= IDLE)
    served(srv)
    for r in peers:
        r.close_frame(1000)
    for r in peers:
        r.expect_close()
        r.close()


def churn(srv: Server) -> None:
    for _ in range(CHURN):
        r = Raw(srv.port, "/")
        r.close_frame(1000)
        r.expect_close()
        r.close()


PEERS: list[tuple[str, Callable[[Server], None]]] = [
    ("100 peers vanish mid-frame (TCP reset)", vanish_mid_frame),
    ("10 peers send 16 MiB each and never read", non_readers),
    ("a ping flood from a peer that never reads", ping_flood),
    ("50 slowloris handshakes", slowloris),
    (f"{IDLE} idle connections, then a clean close", idle),
    (f"connect/handshake/close churn x {CHURN}", churn),
]


def run_surface(surface: str) -> tuple[dict[str, str], bool]:
    cells: dict[str, str] = {}
    ok = True
    try:
        srv = Server(surface)
    except AssertionError as e:
        print(f"[{surface}] FAIL server: {e}", flush=True)
        return {name: "FAIL (no server)" for name, _ in PEERS} | {"churn RSS": "FAIL"}, False
    try:
        served(srv)
        baseline = srv.fds()
        for name, peer in PEERS:
            try:
                peer(srv)
                served(srv)
                wait_for("fds back to the baseline", lambda: srv.fds() <= baseline)
                cells[name] = f"pass ({srv.fds()} fds, {srv.rss_kib() // 1024} MiB)"
            except Exception as e:  # noqa: BLE001 - reported in the table
                ok = False
                cells[name] = "FAIL"
                print(f"[{surface}] FAIL {name}: {e} (fds {srv.fds()}, baseline {baseline})", flush=True)
        first = srv.rss_kib()
        churn(srv)
        wait_for("fds back to the baseline", lambda: srv.fds() <= baseline)
        second = srv.rss_kib()
        grew = second - first
        if grew > RSS_SLACK_KIB:
            ok = False
            cells["churn RSS"] = f"FAIL (+{grew} KiB)"
            print(f"[{surface}] FAIL: RSS grew {grew} KiB over a second churn of {CHURN}", flush=True)
        else:
            cells["churn RSS"] = f"pass ({grew:+d} KiB)"
        print(f"[{surface}] done: fds baseline {baseline}, RSS {second // 1024} MiB", flush=True)
    finally:
        srv.stop()
    return cells, ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--surface", action="append", choices=SURFACES)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < IDLE + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, IDLE * 4), hard))
    (TARGET / "surfaces").mkdir(parents=True, exist_ok=True)
    surfaces = args.surface or list(SURFACES)
    start = time.monotonic()
    results, all_ok = {}, True
    for surface in surfaces:
        cells, ok = run_surface(surface)
        results[surface] = cells
        all_ok &= ok
    rows = [name for name, _ in PEERS] + ["churn RSS"]
    print("| hostile peer | " + " | ".join(surfaces) + " |")
    print("|---|" + "---|" * len(surfaces))
    for row in rows:
        print(f"| {row} | " + " | ".join(results[s].get(row, "-") for s in surfaces) + " |")
    print(f"hostile: {len(surfaces)} surfaces in {time.monotonic() - start:.0f} s, {'all passed' if all_ok else 'FAILED'}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
