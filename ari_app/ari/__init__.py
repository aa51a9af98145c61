"""Our own small ARI client: typed REST calls and the events websocket."""

from ari_app.ari.protocol import Ari, Event, EventHandler

__all__ = ["Ari", "Event", "EventHandler"]
