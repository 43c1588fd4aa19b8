"""A test camera (a real RTSP conversation on loopback) that accepts a session (OPTIONS, DESCRIBE, SETUP,
PLAY), sends a few keyframes on its first session only, then nothing; with ``reply=False`` it accepts
TCP connections and never answers (a camera hung while opening)."""
from __future__ import annotations

import base64
import socket
import threading

import av
import numpy as np


def _nal_units(width: int = 32, height: int = 32) -> list[bytes]:
    """NAL units of one real H.264 keyframe of this size (from libx264, Annex B): SPS, PPS, SEI, IDR."""
    import io

    buf = io.BytesIO()
    with av.open(buf, "w", format="h264") as c:
        st = c.add_stream("libx264", rate=25)
        st.width, st.height, st.pix_fmt = width, height, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="rgb24")
        for p in st.encode(frame):
            c.mux(p)
        for p in st.encode(None):
            c.mux(p)
    nals = [n.lstrip(b"\x00").rstrip(b"\x00") for n in buf.getvalue().split(b"\x00\x00\x01") if n.strip(b"\x00")]
    return nals


class SilentCamera:
    def __init__(self, reply: bool = True):
        self.reply = reply
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.sessions = 0
        self.connected = threading.Event()
        self.nals = _nal_units()
        sps = next(n for n in self.nals if n[0] & 0x1F == 7)
        pps = next(n for n in self.nals if n[0] & 0x1F == 8)
        self.sprop = f"{base64.b64encode(sps).decode()},{base64.b64encode(pps).decode()}"
        self.video_sessions = 1  # how many sessions get a few frames of video before going silent
        self._open = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._open.append(conn)
            self.connected.set()
            if self.reply:
                threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn) -> None:
        data = b""
        while True:
            try:
                chunk = conn.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            data += chunk
            while b"\r\n\r\n" in data:
                head, data = data.split(b"\r\n\r\n", 1)
                lines = head.decode(errors="replace").split("\r\n")
                method = lines[0].split()[0]
                cseq = next((l.split(":", 1)[1].strip() for l in lines if l.lower().startswith("cseq")), "0")
                extra, body = "", ""
                if method == "OPTIONS":
                    extra = "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n"
                elif method == "DESCRIBE":
                    body = ("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=silent\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                            "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                            f"a=fmtp:96 packetization-mode=1;sprop-parameter-sets={self.sprop}\r\n"
                            "a=control:track1\r\n")
                    extra = (f"Content-Base: {self.url}/\r\nContent-Type: application/sdp\r\n"
                             f"Content-Length: {len(body)}\r\n")
                elif method == "SETUP":
                    extra = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 12345678\r\n"
                    self.sessions += 1
                elif method == "PLAY":
                    extra = "Session: 12345678\r\nRange: npt=0.000-\r\n"
                reply = f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n{extra}\r\n{body}"
                try:
                    conn.sendall(reply.encode())
                    if method == "PLAY" and self.sessions <= self.video_sessions:
                        self._send_frames(conn, 10)
                except OSError:
                    return

    def _send_frames(self, conn, count: int) -> None:
        """``count`` keyframes as RTP over the RTSP connection (interleaved channel 0), 25 per second."""
        import struct
        import time

        seq = 0
        for i in range(count):
            for k, nal in enumerate(self.nals):
                marker = 0x80 if k == len(self.nals) - 1 else 0
                rtp = struct.pack("!BBHII", 0x80, marker | 96, seq & 0xFFFF, i * 3600, 0x1234) + nal
                conn.sendall(b"$" + struct.pack("!BH", 0, len(rtp)) + rtp)
                seq += 1
            time.sleep(0.04)

    def close(self) -> None:
        self.sock.close()
        for c in self._open:
            try:
                c.close()
            except OSError:
                pass
