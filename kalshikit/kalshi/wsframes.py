"""Fast reading of server WebSocket frames straight from the socket, after websocket-client's handshake.

websocket-client parses every frame in pure Python with several small reads (about 15 µs a frame); this reader
pulls up to 256 KiB per ``recv`` and cuts all complete frames out of the buffer in one pass, so a burst is handled
as a batch (and the monitor thread is woken once per batch rather than once per frame). Sending (commands, pongs)
still goes through websocket-client.

Server frames are never masked (RFC 6455 §5.1); a masked one, a reserved opcode or an oversized length is a
protocol error. Fragmented messages are reassembled.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
MAX_FRAME = 64 * 1024 * 1024
_U16 = struct.Struct(">H")
_U64 = struct.Struct(">Q")


class ProtocolViolation(ConnectionError):
    """The server sent bytes that are not valid WebSocket frames; the connection must be dropped."""


class FrameReader:
    """Complete frames from a connected socket: ``read()`` returns ``[(opcode, payload), ...]`` (at least one)."""

    def __init__(self, sock: socket.socket, pending: bytes = b"", chunk: int = 256 * 1024) -> None:
        self.sock = sock
        self.buf = bytearray(pending)
        self.chunk = chunk
        self._frag_op: int | None = None
        self._frag: list[bytes] = []

    @classmethod
    def after_handshake(cls, ws: Any) -> FrameReader:
        """Take over reading from a connected ``websocket.WebSocket`` (keeping bytes it already buffered)."""
        fb = ws.frame_buffer
        pending = b"".join(fb.recv_buffer)
        fb.recv_buffer.clear()
        return cls(ws.sock, pending)

    def read(self) -> list[tuple[int, bytes]]:
        """Block (up to the socket's timeout, raising ``socket.timeout``) until at least one frame is complete."""
        while True:
            out = self._parse()
            if out:
                return out
            data = self.sock.recv(self.chunk)
            if not data:
                raise ConnectionError("server closed the connection")
            self.buf += data

    def _parse(self) -> list[tuple[int, bytes]]:
        buf = self.buf
        n = len(buf)
        pos = 0
        out: list[tuple[int, bytes]] = []
        while n - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            if b1 & 0x80:
                raise ProtocolViolation("the server sent a masked frame")
            if b0 & 0x70:
                raise ProtocolViolation("the server set reserved bits without a negotiated extension")
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = _U16.unpack_from(buf, pos + 2)[0]
                head = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = _U64.unpack_from(buf, pos + 2)[0]
                head = 10
                if length > MAX_FRAME:
                    raise ProtocolViolation(f"frame of {length} bytes is larger than {MAX_FRAME}")
            end = pos + head + length
            if end > n:
                break
            payload = bytes(buf[pos + head : end])
            pos = end
            opcode = b0 & 0x0F
            fin = b0 & 0x80
            if opcode >= 8:  # control frames are never fragmented and may come between fragments
                out.append((opcode, payload))
            elif opcode == OP_CONT:
                if self._frag_op is None:
                    raise ProtocolViolation("continuation frame without a start")
                self._frag.append(payload)
                if fin:
                    out.append((self._frag_op, b"".join(self._frag)))
                    self._frag_op = None
                    self._frag = []
            elif opcode in (OP_TEXT, OP_BINARY):
                if self._frag_op is not None:
                    raise ProtocolViolation("new message before the fragmented one ended")
                if fin:
                    out.append((opcode, payload))
                else:
                    self._frag_op = opcode
                    self._frag = [payload]
            else:
                raise ProtocolViolation(f"reserved opcode {opcode}")
        if pos:
            del buf[:pos]
        return out
