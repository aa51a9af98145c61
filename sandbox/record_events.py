"""Record real ARI event traffic from the sandbox, for the service tests' fake ARI.

    .venv/bin/python -m sandbox.record_events   (as root; writes tests/data/ari-events.json)

Three calls on the sandbox carrier, placed as the service places them (into the
`ari-app-call` context, the carrier's endpoint watched, the service's event filter):
answered (the dialplan plays the first entry, then two media over ARI, then hung up
by us), busy (486) and unavailable (503).
"""

import asyncio
import json
from typing import Any

from ari_app.ari.client import AriClient
from ari_app.calls import CALL_CONTEXT
from ari_app.stasis import EVENTS
from sandbox.lab import CHECKOUT, Lab
from sandbox.run import ARI_PASSWORD as PW


async def record() -> None:
    events: list[Any] = []

    async def on_event(event: Any) -> None:
        events.append(event)

    async def on_connect() -> None:
        pass

    ari = AriClient(url="http://127.0.0.1:8088", username="ari-app", password=PW, app="ari-app",
                    on_event=on_event, on_connect=on_connect, events=EVENTS)
    task = asyncio.create_task(ari.run())
    assert await ari.wait_connected(10)
    await ari.watch("PJSIP/carrier-74445609")
    out = {}
    calls = [("completed", "12125551212"), ("busy", "12125550486"),
             ("unavailable", "12125550503")]
    for name, number in calls:
        events.clear()
        cid = f"call-{name}"
        await ari.originate(channel_id=cid, endpoint=f"PJSIP/{number}@carrier-74445609",
                            context=CALL_CONTEXT, caller_id="+15550100", timeout=15,
                            variables={"ARI_APP_FIRST": "beep", "ARI_APP_NAME": "ari-app"})
        for _ in range(200):
            await asyncio.sleep(0.1)
            kinds = [e["type"] for e in events]
            if "StasisStart" in kinds and not any(k.startswith("Playback") for k in kinds):
                await ari.play(channel_id=cid, playback_id=f"{cid}-play",
                               media=["digits:12", "sound:beep"])
            if "PlaybackFinished" in kinds and "ChannelHangupRequest" not in kinds:
                await ari.hangup(cid)
                await asyncio.sleep(0.5)
            if any(e["type"] == "ChannelDestroyed" for e in events):
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
