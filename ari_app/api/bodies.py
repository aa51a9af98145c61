"""Response bodies: what the API shows of calls, carriers and the breaker. Pure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from ari_app.calls import CarrierLoad
from ari_app.carriers import Carrier
from ari_app.store import AttemptRecord, BreakerTrip, CallRecord, Delivery


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def done(data: str, **ids: str) -> dict[str, object]:
    """The answer of an action: `data` says what was done, `ids` to what."""
    return {"code": 0, "status": 200, "data": data, **ids}


def _attempt(attempt: AttemptRecord) -> dict[str, object]:
    return {"carrier_id": attempt.carrier_id, "started_at": iso(attempt.started_at),
            "ended_at": iso(attempt.ended_at), "sip_code": attempt.sip_code,
            "cause": attempt.cause, "cause_txt": attempt.cause_txt, "outcome": attempt.outcome}


def _delivery(delivery: Delivery) -> dict[str, object]:
    state = json.loads(delivery.body).get("state")
    return {"event_id": delivery.id, "state": state, "delivery": delivery.state,
            "attempts": delivery.attempts, "last_status": delivery.last_status,
            "last_error": delivery.last_error, "delivered_at": iso(delivery.delivered_at)}


def call_status(record: CallRecord, *, position: int | None = None,
                attempts: Sequence[AttemptRecord] = (),
                deliveries: Sequence[Delivery] = ()) -> dict[str, object]:
    types = record.entry_types.split(",")
    duration = (record.ended_at - record.answered_at
                if record.ended_at is not None and record.answered_at is not None else None)
    hangup = None
    if record.cause is not None:
        hangup = {"cause": record.cause, "cause_txt": record.cause_txt,
                  "sip_code": record.sip_code}
    error = None
    if record.error_id is not None:
        error = {"error_id": record.error_id, "message": record.error}
    return {
        "request_id": record.id,
        "state": record.state,
        "queue_position": position if record.state == "queued" else None,
        "carrier_id": record.carrier_id,
        "to": record.to_number,
        "created_at": iso(record.created_at),
        "answered_at": iso(record.answered_at),
        "ended_at": iso(record.ended_at),
        "duration": None if duration is None else round(duration, 3),
        "hangup": hangup,
        "entries": [{"index": i, "type": t, "played": i < record.played}
                    for i, t in enumerate(types)],
        "answer_to_audio_ms": record.answer_to_audio_ms,
        "speech_engines": record.speech_engines.split(",") if record.speech_engines else [],
        "audio_seconds": record.audio_seconds,
        "error": error,
        "delivery": json.loads(record.delivery) if record.delivery else None,
        "attempts": [_attempt(a) for a in attempts],
        "callbacks": [_delivery(d) for d in deliveries],
    }


def carrier(carrier: Carrier, *, managed: bool, load: CarrierLoad) -> dict[str, object]:
    """A carrier as the API shows it: everything but the password, and its use now. The
    trunk options of a carrier on the PBX's own endpoint are the PBX's: shown as null."""
    trunk: dict[str, object] = {
        "host": carrier.host, "port": carrier.port, "transport": carrier.transport,
        "codecs": list(carrier.codecs), "username": carrier.username,
        "register": carrier.register, "dtmf_mode": carrier.dtmf_mode,
        "media_encryption": carrier.media_encryption,
        "outbound_proxy": carrier.outbound_proxy, "from_user": carrier.from_user,
        "from_domain": carrier.from_domain, "caller_id_header": carrier.caller_id_header,
        "qualify_frequency": carrier.qualify_frequency,
    }
    if not carrier.rendered:
        trunk = dict.fromkeys(trunk)
    return {
        "id": carrier.id, "name": carrier.name, **trunk, "prefix": carrier.prefix,
        "number_format": carrier.number_format, "country_code": carrier.country_code or None,
        "national_prefix": carrier.national_prefix,
        "password_set": carrier.password is not None,
        "caller_ids": list(carrier.caller_ids), "max_channels": carrier.max_channels,
        "max_cps": carrier.max_cps, "priority": carrier.priority,
        "failover_group": carrier.failover_group, "media_base_url": carrier.media_base_url,
        "endpoint": carrier.endpoint, "registration": carrier.registration,
        "caller_id_privacy": carrier.caller_id_privacy, "headers": dict(carrier.headers),
        "managed": managed, "live_calls": load.live_calls,
        "held_back_seconds": load.held_back_seconds,
    }


def breaker(trip: BreakerTrip | None) -> dict[str, object]:
    return {"tripped": trip is not None, "tripped_at": iso(trip.tripped_at) if trip else None,
            "reason": trip.reason if trip else None}
