"""What ends an attempt failed, in the words a client reads (`error_id`, `message`), where
its hangup cause alone would say otherwise."""

from __future__ import annotations

from ari_app.outcome import CallError

HANGUP_LOST = CallError("hangup-lost", "Asterisk never reported the end of the call")
MAX_DURATION = CallError("max-duration", "the call reached calls.max_duration")
CHANNEL_LOST = CallError("channel-lost", "the channel vanished while the connection to "
                         "Asterisk was down (Asterisk restarted, or the call ended meanwhile)")
ASTERISK_ENDED = CallError("asterisk-ended-channel", "Asterisk ended the call itself, without "
                           "a hangup cause: it was stopping or restarting")
FIRST_ENTRY_FAILED = CallError("playback-failed", "Asterisk could not play the first entry")
MEDIA_NOT_ENCRYPTED = CallError("media-not-encrypted", "the carrier answered without SRTP, "
                                "which its media_encryption demands: nothing was played")
PART_FAILED = CallError("playback-failed", "Asterisk could not play the playlist (or a "
                        "delivery message)")

