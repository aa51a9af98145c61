"""Prometheus metrics, served at /metrics. Labels carry carriers and states, never numbers
(a destination prefix, the first digits of numbers, only once it has volume)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.calls = Counter("ari_app_calls", "Calls by final state and carrier",
                             ["state", "carrier"], registry=self.registry)
        self.attempts = Counter("ari_app_attempts", "Originate attempts by carrier",
                                ["carrier"], registry=self.registry)
        self.answer_to_audio = Histogram(
            "ari_app_answer_to_audio_seconds", "From answer to the first playback starting",
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=self.registry)
        self.verdicts = Counter("ari_app_deliveries",
                                "Ended calls by delivery verdict: did a person hear the code",
                                ["verdict"], registry=self.registry)
        self.live = Gauge("ari_app_live_calls", "Calls between acceptance and their final state",
                          registry=self.registry)
        self.queued = Gauge("ari_app_queued_calls", "Calls waiting for a channel or for Asterisk",
                            registry=self.registry)
        self.deliveries = Counter("ari_app_callback_deliveries",
                                  "Callback delivery attempts by result", ["result"],
                                  registry=self.registry)
        self.breaker_open = Gauge("ari_app_breaker_open",
                                  "1 while the circuit breaker stops all dialling",
                                  registry=self.registry)
        self.breaker_trips = Counter("ari_app_breaker_trips", "Times the circuit breaker tripped",
                                     registry=self.registry)
        self.refused = Counter("ari_app_refused_requests",
                               "Requests refused before storing, by reason", ["reason"],
                               registry=self.registry)
        self.verifications = Counter("ari_app_verifications",
                                     "Verifications by the status they reached (pending: "
                                     "started)", ["status"], registry=self.registry)
        self.verify_conversion = Gauge(
            "ari_app_verify_conversion",
            "Verifications approved / started in the fraud window, by carrier", ["carrier"],
            registry=self.registry)
        self.verify_prefix_conversion = Gauge(
            "ari_app_verify_prefix_conversion",
            "Verifications approved / started in the fraud window, by destination prefix "
            "(prefixes with verify.fraud.min_volume or more)", ["prefix"],
            registry=self.registry)
        self.verify_prefix_alerts = Counter(
            "ari_app_verify_prefix_alerts",
            "Low-conversion alerts by destination prefix (the pattern of traffic pumping)",
            ["prefix"], registry=self.registry)
        self.ari_connected = Gauge("ari_app_ari_connected",
                                   "1 while the ARI events websocket is up", registry=self.registry)
        self.node_connected = Gauge("ari_app_node_connected",
                                    "1 while the Asterisk node's events websocket is up "
                                    "(asterisk.nodes)", ["node"], registry=self.registry)

        self.carrier_reachable = Gauge(
            "ari_app_carrier_reachable",
            "1 while Asterisk's qualify reaches the carrier, 0 when it does not (absent: not "
            "known, e.g. qualify off or AMI down)", ["carrier"], registry=self.registry)
        self.carrier_registered = Gauge(
            "ari_app_carrier_registered",
            "1 while the carrier's outbound registration holds (carriers that register)",
            ["carrier"], registry=self.registry)

    def carriers(self, live: Mapping[str, Mapping[str, Any]]) -> None:
        """Each carrier's health as /health last read it from AMI."""
        self.carrier_reachable.clear()
        self.carrier_registered.clear()
        for carrier_id, seen in live.items():
            contact = seen.get("contact")
            if contact in ("Reachable", "Unreachable"):
                self.carrier_reachable.labels(carrier_id).set(contact == "Reachable")
            registration = seen.get("registration")
            if registration not in (None, "not-registering"):
                self.carrier_registered.labels(carrier_id).set(registration == "Registered")

    def watch(self, *, live: Callable[[], float], ari_connected: Callable[[], float],
              queued: Callable[[], float]) -> None:
        self.live.set_function(live)
        self.queued.set_function(queued)
        self.ari_connected.set_function(ari_connected)

    def render(self) -> bytes:
        return generate_latest(self.registry)
