#!/usr/bin/env python3
"""Writes the small seed corpora under fuzz/corpus/<target>/ (run once; the output is committed)."""
import os, struct, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = bytes([0x11, 0x22, 0x33, 0x44])


def frame(op, payload, fin=True, rsv1=False, mask=True):
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | op
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if mask:
        return head + KEY + bytes(c ^ KEY[i % 4] for i, c in enumerate(payload))
    return head + payload


def deflate(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


frames = {
    "text": frame(1, b"hello"),
    "binary": frame(2, bytes(range(200))),
    "fragments": frame(1, "héllo ".encode()[:2], fin=False) + frame(0, "héllo ".encode()[2:], fin=False) + frame(0, b"!"),
    "ping_pong_close": frame(9, b"p") + frame(10, b"q") + frame(8, struct.pack(">H", 1000) + b"bye"),
    "bad_utf8_split": frame(1, b"\xe2\x82", fin=False) + frame(0, b"\x28"),
    "unmasked": frame(1, b"x", mask=False),
    "huge_len": bytes([0x82, 0xFF]) + struct.pack(">Q", 1 << 30) + KEY,
    "empty_close": frame(8, b""),
    "bad_close_code": frame(8, struct.pack(">H", 1005)),
    "compressed": frame(1, deflate(b"hello hello hello"), rsv1=True),
    "compressed_frag": frame(2, deflate(b"abc" * 50)[:5], fin=False, rsv1=True) + frame(0, deflate(b"abc" * 50)[5:]),
    "bomb": frame(2, deflate(bytes(100000)), rsv1=True),
}
for name, data in frames.items():
    write("decoder", name, bytes([0x1C if "compress" in name or name == "bomb" else 0x0C]) + data)
    write("session", name, bytes([0x02 if "compress" in name or name == "bomb" else 0x00]) + data)
write("session", "pull_echo", bytes([0x01]) + frames["text"] + frames["fragments"] + frames["ping_pong_close"])

GOOD = (b"GET /chat?x=1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
write("handshake", "good", GOOD + b"\r\n")
write("handshake", "deflate", GOOD + b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo\r\n"
      b"Sec-WebSocket-Protocol: chat, superchat\r\nOrigin: http://a\r\n\r\n")
write("handshake", "http10", GOOD.replace(b"HTTP/1.1", b"HTTP/1.0") + b"\r\n")
write("handshake", "post", GOOD.replace(b"GET", b"POST") + b"\r\n")
write("handshake", "badkey", GOOD.replace(b"dGhlIHNhbXBsZSBub25jZQ==", b"c2hvcnQ=") + b"\r\n")
write("handshake", "version8", GOOD.replace(b"Version: 13", b"Version: 8") + b"\r\n")
write("handshake", "partial", GOOD)

for i, offer in enumerate([
    b"permessage-deflate",
    b"permessage-deflate; client_max_window_bits",
    b"permessage-deflate; server_max_window_bits=10; client_no_context_takeover",
    b"x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=9\npermessage-deflate",
    b'permessage-deflate; server_max_window_bits="12"; server_no_context_takeover',
    b"permessage-deflate; server_max_window_bits=16, permessage-deflate; foo=bar",
]):
    write("negotiate", f"offer{i}", bytes([i * 37 % 256]) + offer)

write("inflate", "hello", bytes([0x3F]) + deflate(b"hello hello hello"))
write("inflate", "zeros", bytes([0x05]) + deflate(bytes(5000)))
write("inflate", "stored", bytes([0x20]) + b"\x00\x05\x00\xfa\xffhello")
write("inflate", "garbage", bytes([0x10]) + b"\xff" * 16)

for i, s in enumerate([b"plain ascii", "héllo wörld €𝄞".encode(), b"\xe2\x82\x28", b"\xf0\x9f\x98", b"\xed\xa0\x80",
                       b"\xc0\xaf", b"\xf4\x90\x80\x80", "日本語テキスト".encode()]):
    write("utf8", f"s{i}", bytes([i + 1]) + s)
