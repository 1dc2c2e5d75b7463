"""picows + uvloop echo server: --port N. picows has no permessage-deflate."""

import argparse
import sys

import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server


class EchoListener(WSListener):
    """Echo each data frame; answer close."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION):
            transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()


async def main(port: int) -> None:
    """Serve until killed."""
    server = await ws_create_server(
        lambda _request: EchoListener(),
        "127.0.0.1",
        port,
        max_frame_size=64 * 1024 * 1024,
        backlog=4096,
    )
    await server.serve_forever()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--deflate", action="store_true")
    a = p.parse_args()
    if a.deflate:
        print("note: picows has no permessage-deflate; serving uncompressed", file=sys.stderr)
    uvloop.run(main(a.port))
