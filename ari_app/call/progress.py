"""How far an attempt's channel has come, as one explicit state with its allowed moves.

    DIALING -> RINGING -> ANSWERED -> PLAYING -> PLAYED -> HANGING_UP -> ENDED
                                 \\-------------^
    and from any state before ENDED: HANGING_UP (we hang up), CANCELING (the API
    cancels), ENDED (the channel is gone).

ANSWERED: the dialplan plays the first entry. PLAYING: the channel is ours (Stasis)
and the rest plays over ARI; a playlist of one entry goes from ANSWERED to PLAYED.
PLAYED: a moment of silence before our hangup, so the last word is not clipped.
HANGING_UP and CANCELING: our hangup is sent, the channel's end awaited; the call
then ends canceled from CANCELING. A move the table does not allow is a bug:
`IllegalTransition`.
"""

from __future__ import annotations

from enum import StrEnum

from ari_app.errors import IllegalTransition


class Progress(StrEnum):
    DIALING = "dialing"
    RINGING = "ringing"
    ANSWERED = "answered"
    PLAYING = "playing"
    PLAYED = "played"
    HANGING_UP = "hanging_up"
    CANCELING = "canceling"
    ENDED = "ended"

    @property
    def hangup_sent(self) -> bool:
        return self in (Progress.HANGING_UP, Progress.CANCELING)


_ENDING = (Progress.HANGING_UP, Progress.CANCELING, Progress.ENDED)

NEXT: dict[Progress, frozenset[Progress]] = {
    Progress.DIALING: frozenset({Progress.RINGING, Progress.ANSWERED, *_ENDING}),
    Progress.RINGING: frozenset({Progress.ANSWERED, *_ENDING}),
    Progress.ANSWERED: frozenset({Progress.PLAYING, Progress.PLAYED, *_ENDING}),
    Progress.PLAYING: frozenset({Progress.PLAYED, *_ENDING}),
    Progress.PLAYED: frozenset(_ENDING),
    Progress.HANGING_UP: frozenset({Progress.CANCELING, Progress.ENDED}),
    Progress.CANCELING: frozenset({Progress.ENDED}),
    Progress.ENDED: frozenset(),
}


def move(now: Progress, to: Progress) -> Progress:
    """`to`, if the table allows it from `now`."""
    if to not in NEXT[now]:
        raise IllegalTransition(f"attempt progress {now} -> {to}")
    return to
