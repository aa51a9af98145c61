"""Callback signatures and retry timing."""

from __future__ import annotations

import itertools

from ari_app.callbacks import MAX_RETRY, retry_delay, sign, verify

SECRET = "0123456789abcdef-secret"


def test_signature_verifies_and_detects_tampering() -> None:
    body = '{"event_id":"e1","state":"completed"}'
    signature = sign(SECRET, "1700000000", body)
    assert signature.startswith("v1=") and len(signature) == 3 + 64
    assert verify(SECRET, "1700000000", body, signature, now=1700000010)
    assert not verify(SECRET, "1700000000", body.replace("completed", "failed"), signature,
                      now=1700000010)
    assert not verify("another-secret-123", "1700000000", body, signature, now=1700000010)
    assert not verify(SECRET, "1700000001", body, signature, now=1700000010)
    assert not verify(SECRET, "1700000000", body, signature, now=1700000000 + 301)  # replayed
    assert not verify(SECRET, "soon", body, signature)


def test_retries_back_off_exponentially_with_jitter() -> None:
    low = [retry_delay(n, rand=lambda: 0.0) for n in range(1, 12)]
    high = [retry_delay(n, rand=lambda: 0.999) for n in range(1, 12)]
    assert low[:4] == [0.5, 1.0, 2.0, 4.0]
    assert all(b >= a for a, b in itertools.pairwise(low))
    assert max(high) <= MAX_RETRY and low[-1] == MAX_RETRY / 2
    assert all(h > lo for lo, h in zip(low, high, strict=False))
