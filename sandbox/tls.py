"""The sandbox's certificates: an authority of its own, and the simulated carrier's
certificate for 127.0.0.1 signed by it, as a carrier's TLS port would present. The PBX
trusts that authority only (`asterisk.tls.ca_file`) and checks the name, so a call over
the TLS trunks shows the check passing on a real handshake. Made once, in var/tls/."""

from __future__ import annotations

import subprocess
from pathlib import Path

NAMES = "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n" \
        "extendedKeyUsage=serverAuth,clientAuth\n"


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise SystemExit(f"openssl {args[0]} failed: {result.stderr.strip()}")


def make_certificates(out: Path) -> None:
    """ca.pem, and carrier.pem with carrier.key (names 127.0.0.1 and localhost)."""
    if (out / "carrier.pem").exists():
        return
    out.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
             "-subj", "/CN=ari-app sandbox CA", "-keyout", "ca.key", "-out", "ca.pem",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=out)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", "carrier.key", "-out", "carrier.csr", cwd=out)
    (out / "names.cnf").write_text(NAMES)
    _openssl("x509", "-req", "-in", "carrier.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "3650", "-extfile", "names.cnf",
             "-out", "carrier.pem.new", cwd=out)
    (out / "carrier.pem.new").rename(out / "carrier.pem")  # last: its presence means done
