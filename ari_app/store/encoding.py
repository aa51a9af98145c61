"""A call's request as the store keeps it: JSON of its playlist and delivery options. (The
calls repository seals it before it is written: it may hold a code.)"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from ari_app.delivery import PLAIN, AmdParameters, DeliveryOptions, Gate, MachineDetection, Repeat
from ari_app.entries import KINDS, Entry
from ari_app.request import CallRequest
from ari_app.verify.request import VerifyRequest

_BY_KIND: dict[str, type[Entry]] = {kind: cls for cls, kind in KINDS.items()}


def encode_request(request: CallRequest) -> str:
    return json.dumps({
        "to": request.to, "caller_id": request.caller_id, "carrier_id": request.carrier_id,
        "playlist": _encode_entries(request.playlist),
        "callback_url": request.callback_url,
        "delivery": encode_options(request.delivery),
    })


def decode_request(text: str) -> CallRequest:
    data = json.loads(text)
    options = data.get("delivery")  # absent in requests stored before delivery options
    return CallRequest(to=data["to"], caller_id=data["caller_id"], carrier_id=data["carrier_id"],
                       playlist=_decode_entries(data["playlist"]),
                       callback_url=data.get("callback_url"),
                       delivery=PLAIN if options is None else decode_options(options))


def _encode_entries(entries: Sequence[Entry] | None) -> list[dict[str, Any]] | None:
    if entries is None:
        return None
    return [{"kind": KINDS[type(e)], **asdict(e)} for e in entries]


def _decode_entries(entries: list[dict[str, Any]]) -> tuple[Entry, ...]:
    return tuple(_BY_KIND[e.pop("kind")](**e) for e in entries)


def encode_options(options: DeliveryOptions) -> dict[str, Any]:
    gate, repeat, detection = options.gate, options.repeat, options.machine_detection
    return {
        "gate": {**asdict(gate), "prompt": _encode_entries(gate.prompt)},
        "repeat": {**asdict(repeat), "prompt": _encode_entries(repeat.prompt)},
        "machine_detection": asdict(detection),
        "withheld": _encode_entries(options.withheld),
        "voicemail": _encode_entries(options.voicemail),
    }


def decode_options(data: dict[str, Any]) -> DeliveryOptions:
    gate, repeat, detection = data["gate"], data["repeat"], data["machine_detection"]
    return DeliveryOptions(
        gate=Gate(**{**gate, "prompt": gate["prompt"] and _decode_entries(gate["prompt"])}),
        repeat=Repeat(**{**repeat,
                         "prompt": repeat["prompt"] and _decode_entries(repeat["prompt"])}),
        machine_detection=MachineDetection(**{**detection,
                                              "amd": AmdParameters(**detection["amd"])}),
        withheld=_decode_entries(data["withheld"]),
        voicemail=_decode_entries(data["voicemail"]),
    )


def entry_types(playlist: Sequence[Entry]) -> str:
    return ",".join(KINDS[type(e)] for e in playlist)


def encode_verify(request: VerifyRequest) -> str:
    """A verification's request, to place its sends again (after a restart too): everything
    but the code, which is sealed on its own."""
    return json.dumps({**{k: v for k, v in asdict(request).items() if k != "delivery"},
                       "delivery": encode_options(request.delivery)})


def decode_verify(text: str) -> VerifyRequest:
    data = json.loads(text)
    return VerifyRequest(**{**data, "delivery": decode_options(data["delivery"])})
