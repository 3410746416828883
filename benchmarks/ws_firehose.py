"""A WebSocket firehose for the ingest benchmark: after the handshake it writes pre-encoded Kalshi ticker frames
as fast as the socket accepts them, so the kit's ingest is measured and not the simulator's sending.

    python benchmarks/ws_firehose.py FRAMES MARKETS PORT_FILE GO_FILE

It writes its port to PORT_FILE, accepts one connection, answers the handshake, and starts sending when GO_FILE
exists (the benchmark creates it once the kit holds its positions). Client frames are read and ignored.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes([0x81, n]) + payload
    if n < 65536:
        return bytes([0x81, 126]) + struct.pack(">H", n) + payload
    return bytes([0x81, 127]) + struct.pack(">Q", n) + payload


def ticker(i: int, markets: int) -> bytes:
    b = 1000 + (i * 37) % 8000
    msg = {
        "market_ticker": f"KXFIRE-26DEC31-M{i % markets:03d}",
        "price_dollars": f"0.{b:04d}",
        "yes_bid_dollars": f"0.{b:04d}",
        "yes_ask_dollars": f"0.{b + 100:04d}",
        "volume_fp": f"{1000 + i}.00",
        "open_interest_fp": "250.00",
        "dollar_volume": 10,
        "dollar_open_interest": 5,
        "yes_bid_size_fp": f"{1 + i % 400}.00",
        "yes_ask_size_fp": f"{1 + i % 300}.00",
        "last_trade_size_fp": "1.00",
        "ts": 1_780_000_000 + i // 1000,
        "ts_ms": 1_780_000_000_000 + i,
    }
    return frame(json.dumps({"type": "ticker", "sid": 1, "msg": msg}, separators=(",", ":")).encode())


def main() -> None:
    n, markets, port_file, go_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    blob = b"".join(ticker(i, markets) for i in range(n))
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    with open(port_file, "w") as f:
        f.write(str(srv.getsockname()[1]))
    conn, _ = srv.accept()
    req = b""
    while b"\r\n\r\n" not in req:
        req += conn.recv(4096)
    key = next(
        line.split(b":", 1)[1].strip() for line in req.split(b"\r\n") if line.lower().startswith(b"sec-websocket-key")
    )
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )

    def drain() -> None:  # commands and pongs from the client: read and dropped
        try:
            while conn.recv(65536):
                pass
        except OSError:
            return

    threading.Thread(target=drain, daemon=True).start()
    while not os.path.exists(go_file):
        time.sleep(0.01)
    conn.sendall(blob)
    time.sleep(600)


if __name__ == "__main__":
    main()
