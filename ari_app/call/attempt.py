"""One attempt: one originate on one carrier and everything after it, until its channel is
gone. It reacts to signals and commands in its inbox, one at a time, and returns how it
ended; whether another carrier is tried is the session's decision.

The channel id is chosen before originating (the request id for the first attempt,
`<request id>-<n>` after), so every event is matched to its attempt from the first
moment, and a repeated originate of the same attempt is refused by Asterisk (409)
instead of ringing twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ari_app.ari import Ari
from ari_app.ari.asterisk import Originate
from ari_app.call.detection import Detection
from ari_app.call.failures import (
    ASTERISK_ENDED,
    CHANNEL_LOST,
    FIRST_ENTRY_FAILED,
    HANGUP_LOST,
    MAX_DURATION,
    MEDIA_NOT_ENCRYPTED,
    PART_FAILED,
)
from ari_app.call.progress import Progress, move
from ari_app.call.recorder import Recorder
from ari_app.call.router import Inbox, Router
from ari_app.call.script import Action, Finish, Play, Script
from ari_app.call.signals import (
    Answered,
    AudioStarted,
    Cancel,
    ChannelLost,
    DetectionStarted,
    DialplanMoved,
    EntryPlayed,
    FirstEntryPlayed,
    HungUp,
    KeyPressed,
    MediaRefused,
    Message,
    PartPlayed,
    PlaybackFailed,
    Resync,
    Ringing,
    TimerFired,
)
from ari_app.call.timer import Timer
from ari_app.carriers import Carrier
from ari_app.delivery import Layout
from ari_app.errors import AriError
from ari_app.media import Prepared
from ari_app.outcome import CallError, Ending, Hangup, State, classify
from ari_app.request import CallRequest
from ari_app.settings import CallSettings
from ari_app.store import AttemptRecord

log = logging.getLogger(__name__)

FAILURE_GRACE = 0.5
"""Seconds a failed playback waits for the channel's end: a playback also fails when the
callee hangs up under it, and then the end follows at once; that is no failure of ours."""
HANGUP_GRACE = 10.0
"""Seconds Asterisk has to report a channel gone after our hangup, or after the longest
a call may last."""


class Attempt:
    def __init__(self, *, call_id: str, n: int, carrier: Carrier, request: CallRequest,
                 media: Prepared, ari: Ari, router: Router, recorder: Recorder,
                 settings: CallSettings, app: str, clock: Callable[[], float]) -> None:
        self.n = n
        self.channel_id = call_id if n == 0 else f"{call_id}-{n}"
        self._call_id = call_id
        self._carrier = carrier
        self._request = request
        self._media = media
        self._ari = ari
        self._router = router
        self._recorder = recorder
        self._settings = settings
        self._app = app
        self._clock = clock
        self._inbox: Inbox = router.open(self.channel_id)
        self._progress = Progress.DIALING
        self._started = time.monotonic()
        self._answered_at: float | None = None
        """Monotonic time of the answer: the longest call is counted from it."""
        self._played_at: float | None = None
        """Monotonic time the last entry ended: the hangup follows a moment later."""
        self._hangup_sent_at: float | None = None
        """Monotonic time our hangup was first sent."""
        self._script = Script(options=request.delivery, layout=Layout.of(request.playlist),
                              media=media)
        self._detection = Detection(enabled=request.delivery.machine_detection.enabled,
                                    ari=ari, channel_id=self.channel_id)
        self._failed: tuple[int, float] | None = None
        """The part that failed and when (monotonic), until the call is failed for it."""
        self._first_audio_ms: float | None = None
        self._error: CallError | None = None
        """What went wrong first; an answered call then ends failed."""

    def cancel(self) -> None:
        """End the call canceled. Marked at once, so a channel that is gone before the
        hangup is sent still ends the call canceled; the hangup goes from the attempt's
        own task (the Cancel command)."""
        if self._progress in (Progress.CANCELING, Progress.ENDED):
            return
        self._progress = move(self._progress, Progress.CANCELING)
        self._inbox.put_nowait(Cancel())

    def ending(self, state: State, *, hangup: Hangup | None = None,
               error: CallError | None = None) -> Ending:
        """An ending with what this attempt got to: answered, entries played, first audio."""
        return Ending(state, hangup=hangup, error=error, answered=self._answered_at is not None,
                      played=self._script.played, answer_to_audio_ms=self._first_audio_ms,
                      delivered=self._script.delivered())

    async def run(self) -> Ending | None:
        """How the attempt ended; None if ARI was down, so nothing was originated."""
        try:
            return await self._run()
        except Exception:
            # A bug must not leave a callee on the line: hang up, then let it be told.
            if self._progress is not Progress.ENDED:
                await self._send_hangup()
            raise
        finally:
            self._router.close(self.channel_id)

    async def _run(self) -> Ending | None:
        if not self._ari.connected:
            return None
        await self._recorder.dialing(
            AttemptRecord(n=self.n, carrier_id=self._carrier.id, channel_id=self.channel_id,
                          started_at=self._clock()),
            speech_engines=self._media.engines, audio_seconds=self._media.seconds)
        try:
            # The channel runs dialplan, not Stasis, until its first entry is played: its
            # events come through the application's subscription to the carrier's endpoint.
            await self._ari.watch(self._carrier.trunk)
            await self._ari.originate(self._originate())
        except AriError as exc:
            return self.ending(State.FAILED, error=CallError("originate-failed", str(exc)))
        return await self._follow()

    def _originate(self) -> Originate:
        detection = self._request.delivery.machine_detection
        return Originate(
            channel_id=self.channel_id, trunk=self._carrier.trunk,
            number=self._carrier.dial_number(self._request.to),
            caller_id=self._carrier.caller_id_for(self._request.caller_id),
            ring_timeout=self._settings.ring_timeout, request_id=self._call_id,
            first_entry=self._script.opening, app=self._app,
            machine_detection=detection.amd.arguments() if detection.enabled else (),
            end_of_greeting=(detection.end_of_greeting, detection.greeting_wait),
            headers=self._carrier.headers, withhold_caller_id=self._carrier.caller_id_privacy)

    async def _follow(self) -> Ending:
        """React to the inbox until the channel is gone, within every time limit."""
        timer = Timer(self._inbox)
        try:
            while True:
                timer.set(self._wake_at())
                message = await self._inbox.get()
                if isinstance(message, TimerFired):
                    if not timer.is_current(message):
                        continue
                    ending = await self._on_time()
                else:
                    ending = await self._react(message)
                if ending is not None:
                    return ending
        finally:
            timer.cancel()

    def _wake_at(self) -> float:
        """When to act if nothing arrives first."""
        if self._hangup_sent_at is not None:
            return self._hangup_sent_at + HANGUP_GRACE
        deadline = self._deadline()
        if self._progress is Progress.PLAYED:
            return min(deadline, self._hangup_due())
        if self._failed is not None:
            return min(deadline, self._failed[1] + FAILURE_GRACE)
        if self._progress is Progress.PLAYING and self._script.wait_until is not None:
            return min(deadline, self._script.wait_until)
        return deadline

    def _deadline(self) -> float:
        calls = self._settings
        deadline = self._started + calls.ring_timeout + calls.max_duration + HANGUP_GRACE
        if self._answered_at is not None:
            deadline = min(deadline, self._answered_at + calls.max_duration)
        return deadline

    def _hangup_due(self) -> float:
        # A moment of silence after the last word, so its end is not clipped.
        assert self._played_at is not None
        return self._played_at + self._settings.hangup_delay_ms / 1000

    async def _on_time(self) -> Ending | None:
        if self._hangup_sent_at is not None:
            return self.ending(State.FAILED, error=HANGUP_LOST)
        if self._failed is not None:
            part, _ = self._failed
            self._failed = None
            if part == self._script.playing:  # the channel is still there, the part too
                await self._fail(PART_FAILED)
            return None
        waited = self._script.wait_until
        if self._progress is Progress.PLAYING and waited is not None \
                and waited < self._deadline():
            await self._do(self._script.timed_out())
            return None
        hangup_due = self._progress is Progress.PLAYED and self._hangup_due() <= self._deadline()
        if not hangup_due and not self._progress.hanging_up:
            self._error = self._error or MAX_DURATION
        await self._hang_up()
        return None

    async def _react(self, message: Message) -> Ending | None:
        match message:
            case Ringing():
                if self._progress is Progress.DIALING:
                    self._progress = move(self._progress, Progress.RINGING)
                    await self._recorder.ringing(self.n)
            case Answered():
                if self._answered_at is None:
                    await self._answered()
            case DetectionStarted():
                self._detection.started()
            case DialplanMoved():
                self._detection.moved_on()
            case AudioStarted():
                self._detection.moved_on()
                self._script.opening_started()
                if self._answered_at is not None and self._first_audio_ms is None:
                    self._first_audio_ms = (time.monotonic() - self._answered_at) * 1000
                    self._recorder.audio_started(self._first_audio_ms)
            case FirstEntryPlayed() | MediaRefused():
                self._detection.moved_on()
                await self._handed_over(message)
            case KeyPressed(key=key):
                await self._key_pressed(key)
            case EntryPlayed(playback_id=playback_id):
                self._script.sound_played(self._part_of(playback_id))
            case PartPlayed(playback_id=playback_id):
                if self._progress is Progress.PLAYING:
                    await self._do(self._script.part_played(self._part_of(playback_id),
                                                            time.monotonic()))
            case PlaybackFailed(playback_id=playback_id):
                part = self._part_of(playback_id)
                if part is not None and part == self._script.playing \
                        and not self._progress.hanging_up:
                    self._failed = (part, time.monotonic())
            case HungUp(hangup=hangup):
                return self._hung_up(hangup)
            case Cancel():
                await self._hang_up()
            case Resync(channel_state=channel_state):
                await self._resync(channel_state)
            case ChannelLost():
                # Gone from Asterisk's list; a channel whose originate was under way when
                # the list was read could still come: make sure it does not ring on.
                await self._send_hangup()
                self._progress = move(self._progress, Progress.ENDED)
                return self.ending(State.FAILED, error=CHANNEL_LOST)
        return None

    async def _answered(self) -> None:
        self._answered_at = time.monotonic()
        if self._progress in (Progress.DIALING, Progress.RINGING):
            self._progress = move(self._progress, Progress.ANSWERED)
        await self._recorder.answered(self.n, self._clock())

    async def _handed_over(self, handover: FirstEntryPlayed | MediaRefused) -> None:
        """The dialplan handed the channel over: the first part played (or a machine met),
        or nothing played because the media the trunk demands was refused."""
        if self._answered_at is None:
            await self._answered()  # its state change was missed
        if self._progress is not Progress.ANSWERED:
            return  # handed over already, or being hung up
        match handover:
            case MediaRefused():
                await self._fail(MEDIA_NOT_ENCRYPTED)
            case FirstEntryPlayed(ok=False):
                await self._fail(FIRST_ENTRY_FAILED)
            case FirstEntryPlayed(machine=machine):
                self._progress = move(self._progress, Progress.PLAYING)
                await self._do(self._script.start(self._detection.timed(machine)))

    async def _key_pressed(self, key: str) -> None:
        if self._answered_at is None or self._progress.hanging_up:
            return
        at_ms = round((time.monotonic() - self._answered_at) * 1000)
        action = self._script.key(key, at_ms)
        if self._progress is Progress.PLAYING:
            await self._do(action)

    async def _do(self, action: Action) -> None:
        """What the script asks: play a part (stopping the one playing first), or end."""
        match action:
            case Play(part=part, sounds=sounds, stop=stop):
                try:
                    if stop is not None:
                        await self._ari.stop_playback(self._playback_id(stop))
                    await self._ari.play(channel_id=self.channel_id,
                                         playback_id=self._playback_id(part), sounds=sounds)
                except AriError as exc:
                    await self._fail(CallError("playback-failed", str(exc)))
            case Finish():
                self._all_played()

    def _playback_id(self, part: int) -> str:
        return f"{self.channel_id}-p{part}"

    def _part_of(self, playback_id: str) -> int | None:
        prefix = f"{self.channel_id}-p"
        number = playback_id.removeprefix(prefix)
        return int(number) if playback_id.startswith(prefix) and number.isdigit() else None

    def _all_played(self) -> None:
        if self._progress in (Progress.ANSWERED, Progress.PLAYING):
            self._progress = move(self._progress, Progress.PLAYED)
            self._played_at = time.monotonic()

    async def _fail(self, error: CallError) -> None:
        self._error = error
        await self._hang_up()

    async def _hang_up(self) -> None:
        """End the call (unless it is being ended already) and send our hangup once."""
        if not self._progress.hanging_up:
            self._progress = move(self._progress, Progress.HANGING_UP)
        if self._hangup_sent_at is None:
            await self._send_hangup()

    async def _send_hangup(self) -> None:
        """Ask Asterisk to hang up; again after a reconnect (the first may be lost). The
        time Asterisk has to report the end counts from the first."""
        if self._hangup_sent_at is None:
            self._hangup_sent_at = time.monotonic()
        try:
            await self._ari.hangup(self.channel_id)
        except AriError:
            log.warning("hangup failed", extra=self._recorder.log_extra)

    def _hung_up(self, hangup: Hangup) -> Ending:
        canceled = self._progress is Progress.CANCELING
        self._progress = move(self._progress, Progress.ENDED)
        if canceled:
            return self.ending(State.CANCELED, hangup=hangup)
        answered = self._answered_at is not None
        state = classify(hangup, answered=answered)
        if hangup.cause == 0 and answered:
            # No cause (ours is 16, the callee's too): Asterisk itself tore it down.
            self._error = ASTERISK_ENDED
        if state is State.COMPLETED and self._error is not None:
            state = State.FAILED
        return self.ending(state, hangup=hangup, error=self._error)

    async def _resync(self, channel_state: str) -> None:
        """The websocket was down: catch up with what happened to the channel meanwhile."""
        log.info("resyncing call after reconnect", extra=self._recorder.log_extra)
        if self._progress.hanging_up:
            if self._hangup_sent_at is not None:
                await self._send_hangup()  # the first one may not have reached Asterisk
            return
        if channel_state != "Up" or self._progress is Progress.PLAYED:
            return
        if self._answered_at is None:
            await self._answered()
        try:
            if await self._ari.channel_app(self.channel_id) != "Stasis":
                return  # still playing the first entry in the dialplan: StasisStart will come
            if self._progress is Progress.ANSWERED:
                # StasisStart was missed: what it would have said is in the channel's
                # variables (plain media must not be taken for SRTP, nor a machine for a
                # person).
                await self._handed_over(await self._detection.handover())
                return
            playing = self._script.playing
            if playing is not None \
                    and not await self._ari.playback_exists(self._playback_id(playing)):
                await self._do(self._script.part_played(playing, time.monotonic()))
        except AriError:
            return
