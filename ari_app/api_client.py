"""`ari-app call` and `ari-app verify`: the API as an admin testing a trunk uses it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
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


async def _ask(prompt: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(None, input, prompt)


async def verify_number(api: str, body: Any, *, key: str,
                        ask: Callable[[str], Awaitable[str]] = _ask, poll: float = 0.5) -> int:
    """Start a verification, print its call as it goes, then ask for the code heard until
    it is approved or ends. An empty answer asks for another call (a new verification if
    this one ended, e.g. undeliverable). Exit status 0 only when approved."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
        async with http.post(f"{api}/verify", json=body) as response:
            answer = await response.json()
            if response.status not in (200, 201):
                print(json.dumps(answer, indent=2))
                return 1
        verification_id = answer["id"]
        print(f"verification {verification_id}: calling {answer['to']} "
              f"(code valid until {answer['expires_at']})")
        await _follow_call(http, f"{api}/verify/{verification_id}", poll)
        while True:
            code = (await ask("code heard (Enter: call again): ")).strip()
            if not code:
                async with http.post(f"{api}/verify/{verification_id}/resend") as response:
                    resent = await response.json()
                if response.status == 409:  # it ended (undeliverable...): a new one
                    async with http.post(f"{api}/verify", json=body) as response:
                        resent = await response.json()
                    if response.status in (200, 201):
                        verification_id = resent["id"]
                        print(f"verification {verification_id}: a new code, calling again")
                if response.status not in (200, 201):
                    print(resent.get("message", resent))
                    continue
                await _follow_call(http, f"{api}/verify/{verification_id}", poll)
                continue
            async with http.post(f"{api}/verify/{verification_id}/check",
                                 json={"code": code}) as response:
                checked = await response.json()
            if response.status == 200 and checked["status"] == "approved":
                print("approved")
                return 0
            if response.status == 200 and checked["status"] == "pending":
                print(f"wrong code; {checked['attempts_left']} attempt(s) left")
                continue
            told = checked.get("verification_status") or checked.get("message") or checked
            print(f"not approved: {told}")
            if response.status != 422:
                return 1


async def _follow_call(http: aiohttp.ClientSession, url: str, poll: float) -> None:
    """Print the latest call's state changes until it ends, and its delivery verdict."""
    last = None
    while True:
        async with http.get(url) as response:
            verification = await response.json()
        call = verification["calls"][-1] if verification.get("calls") else None
        state = call["state"] if call else None
        if state != last and state is not None:
            last = state
            print(f"call: {state}")
        if call is not None and call["ended_at"] is not None:
            print(f"call ended; verdict: {call['verdict']}")
            return
        if verification["status"] != "pending":
            return
        await asyncio.sleep(poll)
