"""How far an attempt's channel has come, as one explicit state with its allowed moves.

    DIALING -> RINGING -> ANSWERED -> PLAYING -> PLAYED -> HANGING_UP -> ENDED
                                 \\-------------^
    from DIALING to PLAYED: also HANGING_UP (we end the call), CANCELING (the API
    cancels it) or ENDED (the channel is gone); from HANGING_UP: CANCELING or ENDED;
    from CANCELING: ENDED.

ANSWERED: the dialplan plays the first entry. PLAYING: the channel is ours (Stasis)
and the rest plays over ARI; a playlist of one entry goes from ANSWERED to PLAYED.
PLAYED: a moment of silence before our hangup, so the last word is not clipped.
HANGING_UP and CANCELING: the call is being ended (our hangup is sent, or about to
be), the channel's end awaited; from CANCELING the call ends canceled. A move the
table does not allow is a bug: `IllegalTransition`.
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
    def hanging_up(self) -> bool:
        """We decided to end the call; nothing more is played."""
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
