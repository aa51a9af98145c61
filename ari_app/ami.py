"""AMI, for what ARI cannot do: reload PJSIP after a carrier change, and read registrations
and contact reachability. Through the asterisk-ami library, whose client is blocking and
threaded: each request opens a short session on a worker thread, so the event loop never
waits on it, and nothing stays connected between the (rare) requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from asterisk.ami import AMIClient, SimpleAction

from ari_app.errors import AmiError
from ari_app.settings import AmiSettings

T = TypeVar("T")


@dataclass(frozen=True)
class Contact:
    aor: str
    status: str
    """Reachable, Unreachable, NonQualified or Unknown."""
    roundtrip_ms: float | None


class Ami(Protocol):
    async def ping(self) -> bool: ...
    async def reload_pjsip(self) -> None: ...
    async def endpoints(self) -> set[str]: ...
    async def registrations(self) -> dict[str, str]:
        """Outbound registration name -> status (Registered, Rejected, Unregistered...)."""
    async def contact(self, endpoint: str) -> Contact | None:
        """Reachability of the endpoint's contact, from Asterisk's qualify (SIP OPTIONS)."""
    async def qualify(self, endpoint: str) -> None:
        """Ask Asterisk to qualify the endpoint now rather than at its next interval."""


class AmiClient:
    def __init__(self, settings: AmiSettings, *, timeout: float = 5.0) -> None:
        self._settings = settings
        self._timeout = timeout
        self._lock = asyncio.Lock()

    async def _call(self, name: str, *, list_end: str | None = None,
                    **keys: str) -> tuple[Mapping[str, str], list[Mapping[str, str]]]:
        """One action in its own session: (response keys, events of the list it starts)."""
        async with self._lock:
            return await asyncio.to_thread(self._blocking, name, list_end, keys)

    def _blocking(self, name: str, list_end: str | None,
                  keys: Mapping[str, str]) -> tuple[Mapping[str, str], list[Mapping[str, str]]]:
        client = AMIClient(address=self._settings.host, port=self._settings.port,
                           timeout=self._timeout)
        events: list[Mapping[str, str]] = []
        done = threading.Event()

        def on_event(event: Any, source: Any) -> None:
            if event.keys.get("ActionID") != "q":
                return
            if event.name == list_end:
                done.set()
            else:
                events.append(dict(event.keys))

        try:
            client.connect()
            login = client.login(username=self._settings.username,
                                 secret=self._settings.secret.reveal()).response
            if login is None or login.is_error():
                raise AmiError("AMI login refused: check ami.username and ami.secret")
            client.add_event_listener(on_event)
            response = client.send_action(SimpleAction(name, ActionID="q", **keys)).response
            if response is None:
                raise AmiError(f"AMI {name}: no answer within {self._timeout:.0f} s")
            if response.is_error():
                return {"Response": "Error", **response.keys}, []
            if list_end is not None and not done.wait(self._timeout):
                raise AmiError(f"AMI {name}: list not complete within {self._timeout:.0f} s")
            return {"Response": response.status, **response.keys}, events
        except OSError as exc:
            raise AmiError(f"AMI unreachable at {self._settings.host}:{self._settings.port}: "
                           f"{type(exc).__name__}") from exc
        finally:
            with contextlib.suppress(OSError):
                client.logoff()
            client.disconnect()

    async def ping(self) -> bool:
        try:
            response, _ = await self._call("Ping")
        except AmiError:
            return False
        return response.get("Response") == "Success"

    async def reload_pjsip(self) -> None:
        response, _ = await self._call("Reload", Module="res_pjsip.so")
        if response.get("Response") != "Success":
            raise AmiError(f"Asterisk refused to reload PJSIP: {response.get('Message', '')}")

    async def endpoints(self) -> set[str]:
        _, events = await self._call("PJSIPShowEndpoints", list_end="EndpointListComplete")
        return {e["ObjectName"] for e in events if "ObjectName" in e}

    async def registrations(self) -> dict[str, str]:
        _, events = await self._call("PJSIPShowRegistrationsOutbound",
                                     list_end="OutboundRegistrationDetailComplete")
        return {e["ObjectName"]: e.get("Status", "") for e in events
                if e.get("ObjectName") and "Status" in e}

    async def contact(self, endpoint: str) -> Contact | None:
        response, events = await self._call("PJSIPShowEndpoint", Endpoint=endpoint,
                                            list_end="EndpointDetailComplete")
        if response.get("Response") != "Success":
            return None
        for event in events:
            if "AOR" in event and "Status" in event:
                rtt = event.get("RoundtripUsec", "")
                return Contact(aor=event["AOR"], status=event["Status"],
                               roundtrip_ms=int(rtt) / 1000 if rtt.isdigit() and rtt != "0"
                               else None)
        return None

    async def qualify(self, endpoint: str) -> None:
        await self._call("PJSIPQualify", Endpoint=endpoint)


class AmiNodes:
    """Several nodes' AMI as one: a reload reaches every node; an endpoint counts as there
    when every node has it; registrations and reachability are the first node's that
    answers."""

    def __init__(self, nodes: dict[str, Ami]) -> None:
        self._nodes = nodes

    async def ping(self) -> bool:
        return all([await ami.ping() for ami in self._nodes.values()])

    async def reload_pjsip(self) -> None:
        for name, ami in self._nodes.items():
            try:
                await ami.reload_pjsip()
            except AmiError as exc:
                raise AmiError(f"node {name}: {exc}") from exc

    async def endpoints(self) -> set[str]:
        found = [await ami.endpoints() for ami in self._nodes.values()]
        return set.intersection(*found)

    async def _first(self, ask: Callable[[Ami], Awaitable[T]]) -> T:
        errors = []
        for ami in self._nodes.values():
            try:
                return await ask(ami)
            except AmiError as exc:
                errors.append(exc)
        raise errors[-1]

    async def registrations(self) -> dict[str, str]:
        return await self._first(lambda ami: ami.registrations())

    async def contact(self, endpoint: str) -> Contact | None:
        return await self._first(lambda ami: ami.contact(endpoint))

    async def qualify(self, endpoint: str) -> None:
        for ami in self._nodes.values():
            await ami.qualify(endpoint)
