"""Asterisk's own syntax for what the service asks of it, spelled in this one place: the dial
string, the SIP header on each INVITE, media URIs, and the variables of the dialplan
context a call runs once answered (`dialplan/extensions.conf.j2`).

Only validated values reach these strings: the number (digits, an optional '+'), the
trunk name (from the checked carrier id) and ids the service made itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

CALL_CONTEXT = "ari-app-call"
"""The dialplan context a call runs once answered: where the trunk's endpoint demands SRTP, a
check that the media is encrypted, else straight to Stasis; AMD() first if asked (ARI_APP_AMD);
then, for a person, the first entry at once (ARI_APP_FIRST), or, for a machine, a wait for
the end of its greeting (ARI_APP_GREETING_END); then Stasis (our application, ARI_APP_NAME),
told how the first entry went, what AMD() said and whether the media was refused
(PLAYBACKSTATUS, AMDSTATUS, AMDCAUSE, ARI_APP_MEDIA)."""
MEDIA_VARIABLE = "ARI_APP_MEDIA"
MEDIA_REFUSED = "unencrypted"
"""MEDIA_VARIABLE's value (and StasisStart's fifth argument) when the endpoint demands SRTP
and the answer brought none: CALL_CONTEXT played nothing."""
CALL_HEADER = "X-Ari-App-Request"
"""SIP header carrying the request id on every INVITE, for the carrier's records."""


@dataclass(frozen=True)
class Originate:
    """One outbound call into CALL_CONTEXT, in our words."""

    channel_id: str
    trunk: str
    """The carrier's PJSIP endpoint."""
    number: str
    """As the carrier wants it dialled (its number format and tech prefix applied)."""
    caller_id: str
    ring_timeout: int
    request_id: str
    first_entry: tuple[str, ...]
    """Sounds (file names without extension) the dialplan plays the moment it is answered."""
    app: str
    """The Stasis application the channel is handed to after the first entry."""
    machine_detection: tuple[int, ...] = ()
    """AMD()'s arguments, in its order; empty: no detection."""
    end_of_greeting: tuple[int, int] = (0, 0)
    """A machine's greeting is over after this much silence (ms), waited for at most this
    long (s), before the channel is handed over."""
    headers: tuple[tuple[str, str], ...] = ()
    """The carrier's extra INVITE headers (names from an allow-list, checked values)."""
    withhold_caller_id: bool = False
    """Presentation restricted: the carrier is asked not to show the caller ID."""


def endpoint(trunk: str) -> str:
    """The PJSIP endpoint of a trunk, as ARI names endpoints (for subscriptions)."""
    return f"PJSIP/{trunk}"


def originate_request(call: Originate) -> tuple[dict[str, str], dict[str, str]]:
    """The query parameters and channel variables of `POST /channels/{id}` for `call`."""
    params = {"endpoint": f"PJSIP/{call.number}@{call.trunk}", "context": CALL_CONTEXT,
              "extension": "s", "priority": "1", "callerId": call.caller_id,
              "timeout": str(call.ring_timeout)}
    variables = {f"PJSIP_HEADER(add,{name})": value for name, value in call.headers}
    variables |= {f"PJSIP_HEADER(add,{CALL_HEADER})": call.request_id,
                  "ARI_APP_FIRST": "&".join(call.first_entry),
                  "ARI_APP_NAME": call.app}
    if call.withhold_caller_id:
        # ARI sets a callerId as presentation allowed after the variables, so the number
        # goes as the connected line with presentation restricted, without an update
        # (`i`): chan_pjsip builds From and P-Asserted-Identity from it.
        del params["callerId"]
        variables |= {"CONNECTEDLINE(num,i)": call.caller_id, "CONNECTEDLINE(pres,i)": "prohib",
                      "CALLERID(num)": call.caller_id, "CALLERID(pres)": "prohib"}
    if call.machine_detection:
        variables["ARI_APP_AMD"] = ",".join(str(n) for n in call.machine_detection)
        silence, wait = call.end_of_greeting
        variables["ARI_APP_GREETING_END"] = f"{silence},1,{wait}"  # WaitForSilence()'s own
    return params, variables


def media_uris(sounds: Sequence[str]) -> list[str]:
    """ARI media URIs of sounds given by file name without extension (a path, or the name
    of one of Asterisk's own prompts)."""
    return [f"sound:{sound}" for sound in sounds]
