"""`ari-app call`: place one call through the API and follow it to its outcome."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from ari_app.outcome import FINAL


async def place_call(api: str, body: Any, *, key: str, poll: float = 0.25,
                     limit: float = 600) -> int:
    """Print each state change; exit status 0 only when the call completed."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
        async with http.post(f"{api}/voice/call/play", json=body) as response:
            answer = await response.json()
            if response.status != 202:
                print(json.dumps(answer, indent=2))
                return 1
        request_id = answer["request_id"]
        print(f"accepted: request_id {request_id}")
        last = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while loop.time() < deadline:
            async with http.get(f"{api}/voice/call/status/{request_id}") as response:
                status = await response.json()
            if status["state"] != last:
                last = status["state"]
                print(f"state: {last}")
            if last in FINAL:
                print(json.dumps(status, indent=2))
                return 0 if last == "completed" else 1
            await asyncio.sleep(poll)
    print("gave up waiting for the outcome")
    return 1
