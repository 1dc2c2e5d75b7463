"""A raw WebSocket client for the cross-surface suite: exact frames on the wire, violations included.

The `websockets` client refuses to send broken frames and hides masking, fragment boundaries and
pings, so the scenarios that look at those speak RFC 6455 themselves through this client.
"""

from __future__ import annotations

import base64
import os
import socket
import ssl
import struct
import time

TIMEOUT = 10.0
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Frame:
    """One frame as read from the wire."""

    def __init__(self, fin: bool, rsv: int, opcode: int, masked: bool, payload: bytes) -> None:
        self.fin, self.rsv, self.opcode, self.masked, self.payload = fin, rsv, opcode, masked, payload

    def close_code(self) -> tuple[int | None, str]:
        if len(self.payload) < 2:
            return None, ""
        return struct.unpack("!H", self.payload[:2])[0], self.payload[2:].decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"Frame(op={self.opcode}, fin={self.fin}, masked={self.masked}, {self.payload[:40]!r})"


def http_exchange(port: int, head: bytes, tls: ssl.SSLContext | None = None) -> tuple[int, dict[str, str], bytes, socket.socket, bytes]:
    """Sends a request head and reads the response head: status, headers (lower-case), body so far."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    if tls is not None:
        sock = tls.wrap_socket(sock, server_hostname="127.0.0.1")
    sock.sendall(head)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before the response head ({buf!r})")
        buf += chunk
    raw, rest = buf.split(b"\r\n\r\n", 1)
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = (headers[key] + ", " if key in headers else "") + value.strip()
    return status, headers, rest, sock, raw


def upgrade_head(path: str = "/s", extra: str = "", version: str = "13", key: str | None = None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode() if key is None else key
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n{extra}\r\n"
    ).encode()


class Raw:
    """An upgraded connection driven frame by frame."""

    def __init__(self, port: int, path: str = "/s", extra: str = "", rcvbuf: int | None = None) -> None:
        self.port = port
        if rcvbuf is not None:
            # A small receive buffer so a peer that does not read stalls the server quickly.
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.settimeout(TIMEOUT)
            sock.connect(("127.0.0.1", port))
            key = base64.b64encode(os.urandom(16)).decode()
            sock.sendall(upgrade_head(path, extra, key=key))
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(4096)
                if not chunk:
                    raise AssertionError("connection closed during the handshake")
                buf += chunk
            raw, self.buf = buf.split(b"\r\n\r\n", 1)
            self.status = int(raw.split()[1])
            self.headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in raw.decode("latin-1").split("\r\n")[1:])
            }
            self.sock = sock
        else:
            self.status, self.headers, self.buf, self.sock, _ = http_exchange(port, upgrade_head(path, extra))
        if self.status != 101:
            raise AssertionError(f"upgrade answered {self.status}, not 101")

    # ---- writing ----
    def send_frame(self, opcode: int, payload: bytes = b"", fin: bool = True, mask: bool = True, rsv: int = 0) -> None:
        head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
        n = len(payload)
        bit = 0x80 if mask else 0
        if n < 126:
            head += bytes([bit | n])
        elif n < 65536:
            head += bytes([bit | 126]) + struct.pack("!H", n)
        else:
            head += bytes([bit | 127]) + struct.pack("!Q", n)
        if mask:
            key = os.urandom(4)
            head += key
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if n < 4096 else _mask(payload, key)
        self.sock.sendall(head + payload)

    def frames(self, *frames: tuple[int, bytes, bool]) -> None:
        """Sends (opcode, payload, fin) frames in order."""
        for opcode, payload, fin in frames:
            self.send_frame(opcode, payload, fin=fin)

    def text(self, s: str) -> None:
        self.send_frame(1, s.encode())

    def close_frame(self, code: int | None = None, reason: str = "") -> None:
        self.send_frame(8, b"" if code is None else struct.pack("!H", code) + reason.encode())

    # ---- reading ----
    def _fill(self, n: int) -> bool:
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                return False
            self.buf += chunk
        return True

    def recv_frame(self) -> Frame | None:
        """The next frame, or None at EOF (or a reset)."""
        try:
            if not self._fill(2):
                return None
            b0, b1 = self.buf[0], self.buf[1]
            n, off = b1 & 0x7F, 2
            if n == 126:
                if not self._fill(4):
                    return None
                n, off = struct.unpack("!H", self.buf[2:4])[0], 4
            elif n == 127:
                if not self._fill(10):
                    return None
                n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
            key = None
            if b1 & 0x80:
                if not self._fill(off + 4):
                    return None
                key, off = self.buf[off : off + 4], off + 4
            if not self._fill(off + n):
                return None
            payload, self.buf = self.buf[off : off + n], self.buf[off + n :]
        except ConnectionResetError:
            return None
        if key is not None:
            payload = _mask(payload, key)
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, key is not None, payload)

    def frame(self, what: str) -> Frame:
        """The next frame; fails naming `what` was expected when the connection ended instead."""
        f = self.recv_frame()
        if f is None:
            raise AssertionError(f"connection ended; expected {what}")
        return f

    def next_data(self, answer_pings: bool = True) -> Frame:
        """The next Text/Binary/continuation frame; Pings are answered, Pongs skipped."""
        while True:
            f = self.recv_frame()
            if f is None:
                raise AssertionError("connection ended while waiting for a data frame")
            if f.opcode == 9:
                if answer_pings:
                    self.send_frame(10, f.payload)
                continue
            if f.opcode == 10:
                continue
            if f.opcode == 8:
                raise AssertionError(f"Close {f.close_code()} while waiting for a data frame")
            return f

    def cmd(self, command: str) -> str:
        """Sends a control message and returns the server's Text reply."""
        self.text(command)
        f = self.next_data()
        if f.opcode != 1:
            raise AssertionError(f"reply to {command!r} is opcode {f.opcode}")
        return f.payload.decode()

    def expect_close(self) -> tuple[int | None, str]:
        """Reads until a Close frame (skipping data and answering Pings) and answers it."""
        while True:
            f = self.recv_frame()
            if f is None:
                raise AssertionError("connection ended without a Close frame")
            if f.opcode == 9:
                self.send_frame(10, f.payload)
            elif f.opcode == 8:
                try:
                    self.send_frame(8, f.payload[:2])
                except OSError:
                    pass
                return f.close_code()

    def expect_eof_without_close(self) -> None:
        while True:
            f = self.recv_frame()
            if f is None:
                return
            if f.opcode == 8:
                raise AssertionError(f"got a Close {f.close_code()} where none was expected")

    def reset(self) -> None:
        """Aborts the TCP connection with a reset (SO_LINGER 0)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _mask(data: bytes, key: bytes) -> bytes:
    n = len(data)
    k = int.from_bytes((key * ((n + 3) // 4 + 1))[:n] or b"\0", "big") if n else 0
    return (int.from_bytes(data, "big") ^ k).to_bytes(n, "big") if n else b""


def wait_for(what: str, probe, timeout: float = TIMEOUT):  # type: ignore[no-untyped-def]
    """Polls `probe()` until it returns a truthy value (the awaited event happened) or fails after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")
