"""Record real ARI event traffic from the sandbox, for the service tests' fake ARI.

    .venv/bin/python -m sandbox.record_events   (as root; writes tests/data/ari-events.json)

Six calls on the sandbox carrier, placed as the service places them (into the
`ari-app-call` context, the carrier's endpoint watched, the service's event filter):
answered (the dialplan plays the first entry, then two sounds over ARI, then hung
up by us), busy (486), no answer (480: it rings until the ring timeout),
unavailable (503), and with machine detection: a person (1771: AMD, then a prompt
over ARI, a key pressed, hung up by us) and a voicemail (1772: AMD says MACHINE,
its greeting is waited out, one sound, hung up). Events are kept as Asterisk sent
them, before parsing.
"""

import asyncio
import json
from typing import Any

from ari_app.ari.asterisk import Originate
from ari_app.ari.client import AriClient
from ari_app.ari.events import EVENT_TYPES
from ari_app.delivery import AmdParameters
from sandbox.lab import CHECKOUT, Lab
from sandbox.run import ARI_PASSWORD as PW

TRUNK = "carrier-74445609"
CALLS = [("completed", "12125551212"), ("busy", "12125550486"),
         ("no_answer", "12125550480"), ("unavailable", "12125550503"),
         ("person", "12125551771"), ("machine", "12125551772")]
DETECTED = {"person", "machine"}
RING_TIMEOUT = 5


async def record() -> None:
    events: list[dict[str, Any]] = []

    async def ignore(*_: Any) -> None:
        return None

    ari = AriClient(url="http://127.0.0.1:8088", username="ari-app", password=PW, app="ari-app",
                    on_event=ignore, on_connect=ignore, events=EVENT_TYPES,
                    on_raw=lambda raw: events.append(dict(raw)))
    task = asyncio.create_task(ari.run())
    assert await ari.wait_connected(10)
    await ari.watch(TRUNK)
    out = {}
    for name, number in CALLS:
        events.clear()
        cid = f"call-{name}"
        playing = False
        detect = name in DETECTED
        await ari.originate(Originate(
            channel_id=cid, trunk=TRUNK, number=number, caller_id="+15550100",
            ring_timeout=RING_TIMEOUT, request_id=cid, first_entry=() if detect else ("beep",),
            app="ari-app", machine_detection=AmdParameters().arguments() if detect else (),
            end_of_greeting=(1200, 20)))
        for _ in range(10 * (RING_TIMEOUT + 20)):
            await asyncio.sleep(0.1)
            kinds = [e["type"] for e in events]
            if "StasisStart" in kinds and not playing:
                playing = True
                await ari.play(channel_id=cid, playback_id=f"{cid}-play",
                               sounds=["digits/1", "beep"])
            done = "ChannelDtmfReceived" if name == "person" else "PlaybackFinished"
            if done in kinds and "ChannelHangupRequest" not in kinds:
                await ari.hangup(cid)
                await asyncio.sleep(0.5)
            if "ChannelDestroyed" in kinds:
                break
        out[name] = list(events)
    task.cancel()
    await ari.close()
    with (CHECKOUT / "tests/data/ari-events.json").open("w") as handle:
        json.dump(out, handle, indent=1)


def main() -> None:
    lab = Lab(ari_password=PW)
    try:
        lab.start()
        asyncio.run(record())
    finally:
        lab.stop()


if __name__ == "__main__":
    main()
