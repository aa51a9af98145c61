"""A carrier that ignores SRTP: over TLS (1.2 or later, as Python's defaults ask) it
answers every INVITE with plain RTP (RTP/AVP, no crypto line), whatever the offer demanded,
and counts the RTP that reaches its media port. Not Asterisk, which would refuse our offer
instead. Used by tests/e2e/test_trunks.py to show what our side does with such an answer."""

from __future__ import annotations

import re
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Seen:
    """What the carrier saw: the TLS version of each connection, the requests in order, the
    SDP offers, and the RTP packets on its media port."""

    tls_versions: list[str | None] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    offers: list[str] = field(default_factory=list)
    rtp_packets: int = 0


def _messages(conn: ssl.SSLSocket) -> Iterator[tuple[str, str]]:
    """Each SIP message on the stream: its head and its body."""
    buffer = b""
    while True:
        while b"\r\n\r\n" not in buffer:
            chunk = conn.recv(65536)
            if not chunk:
                return
            buffer += chunk
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        text = head.decode(errors="replace").lstrip("\r\n")
        if not text:
            continue  # a keep-alive
        length = re.search(r"(?im)^(?:Content-Length|l):\s*(\d+)", text)
        size = int(length.group(1)) if length else 0
        while len(buffer) < size:
            chunk = conn.recv(65536)
            if not chunk:
                return
            buffer += chunk
        body, buffer = buffer[:size], buffer[size:]
        yield text, body.decode(errors="replace")


def _answer(request: str, *, port: int, status: str, sdp: str = "") -> bytes:
    """A response carrying the request's Via, From, To (tagged), Call-ID and CSeq."""
    copied = [line for line in request.split("\r\n")[1:]
              if re.match(r"(?i)(via|v|from|f|call-id|i|cseq):", line)]
    to = next(line for line in request.split("\r\n") if re.match(r"(?i)(to|t):", line))
    if ";tag=" not in to:
        to += ";tag=plaincarrier"
    lines = [f"SIP/2.0 {status}", *copied, to,
             f"Contact: <sip:carrier@127.0.0.1:{port};transport=tls>"]
    if sdp:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(sdp.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + sdp).encode()


def _plain_sdp(media_port: int) -> str:
    return ("v=0\r\no=carrier 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {media_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")


@contextmanager
def plain_answerer(port: int, media_port: int, cert: Path, key: Path) -> Iterator[Seen]:
    """Listen with TLS on `port` (certificate `cert`) for as long as the block runs."""
    seen = Seen()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", port))
    listener.settimeout(0.2)
    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    media.bind(("127.0.0.1", media_port))
    media.settimeout(0.2)
    stop = threading.Event()

    def serve(conn: ssl.SSLSocket) -> None:
        seen.tls_versions.append(conn.version())
        with conn:
            for head, body in _messages(conn):
                method = head.split(" ", 1)[0]
                if method == "SIP/2.0":
                    continue
                seen.requests.append(method)
                if method == "INVITE":
                    seen.offers.append(body)
                    conn.sendall(_answer(head, port=port, status="200 OK",
                                         sdp=_plain_sdp(media_port)))
                elif method != "ACK":
                    conn.sendall(_answer(head, port=port, status="200 OK"))

    def accept() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                conn = context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                raw.close()
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    def count_rtp() -> None:
        while not stop.is_set():
            try:
                media.recv(2048)
            except TimeoutError:
                continue
            seen.rtp_packets += 1

    threads = [threading.Thread(target=accept, daemon=True),
               threading.Thread(target=count_rtp, daemon=True)]
    for thread in threads:
        thread.start()
    try:
        yield seen
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=2)
        listener.close()
        media.close()
