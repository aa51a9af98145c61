"""Playlists made into sounds Asterisk plays: the speech plan (plan.py), the sound cache
(cache.py), the per-call staging (staging.py), and the preparer over them (prepare.py)."""

from ari_app.media.prepare import MediaPreparer
from ari_app.media.prepared import Prepared

__all__ = ["MediaPreparer", "Prepared"]
