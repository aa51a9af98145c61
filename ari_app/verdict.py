"""One verdict per call: did a person hear the whole code? With what the call's delivery saw
to back it (keys pressed, the answering-machine detection, readings heard to the end).

    confirmed          a person pressed the gate's key and every reading played to its end
    played             no gate; every reading played to its end (detection, if asked, did not
                       say machine)
    partial            the callee hung up while a code was being read
    withheld_machine   an answering machine: the voicemail message was left, no code
    withheld_no_input  the gate was not passed: no code
    not_delivered      busy, no answer, failed, canceled, or hung up before the code began
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ari_app.outcome import State


class Verdict(StrEnum):
    CONFIRMED = "confirmed"
    PLAYED = "played"
    PARTIAL = "partial"
    WITHHELD_MACHINE = "withheld_machine"
    WITHHELD_NO_INPUT = "withheld_no_input"
    NOT_DELIVERED = "not_delivered"


@dataclass(frozen=True)
class KeyPress:
    key: str
    at_ms: int
    """After the answer."""


@dataclass(frozen=True)
class MachineCheck:
    """What Asterisk's AMD() decided, and how long it listened."""

    status: str
    """MACHINE, HUMAN, NOTSURE or HANGUP (AMDSTATUS)."""
    cause: str
    """AMDCAUSE, e.g. `MAXWORDS-3-2`, `HUMAN-800-800`."""
    decision_ms: int | None

    @property
    def machine(self) -> bool:
        return self.status == "MACHINE"


@dataclass(frozen=True)
class Delivered:
    """What the delivery saw on a call, whatever its final state."""

    gated: bool = False
    """A gate was asked for."""
    gate_passed: bool = False
    machine: MachineCheck | None = None
    readings_started: int = 0
    readings_completed: int = 0
    keys: tuple[KeyPress, ...] = ()

    def verdict(self, state: State) -> Verdict:
        if state is not State.COMPLETED:
            return Verdict.NOT_DELIVERED
        if self.machine is not None and self.machine.machine:
            return Verdict.WITHHELD_MACHINE
        if self.readings_started > self.readings_completed:
            return Verdict.PARTIAL
        if self.readings_completed == 0:
            no_input = self.gated and not self.gate_passed
            return Verdict.WITHHELD_NO_INPUT if no_input else Verdict.NOT_DELIVERED
        return Verdict.CONFIRMED if self.gated else Verdict.PLAYED

    def report(self, state: State) -> dict[str, Any]:
        """The call's `delivery` as the status, the callbacks and the store show it."""
        machine = self.machine
        return {
            "verdict": self.verdict(state).value,
            "readings_completed": self.readings_completed,
            "keys": [{"key": k.key, "at_ms": k.at_ms} for k in self.keys],
            "machine": None if machine is None else {
                "status": machine.status, "cause": machine.cause,
                "decision_ms": machine.decision_ms},
        }
