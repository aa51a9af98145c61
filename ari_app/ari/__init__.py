"""The ARI edge: our own small client (typed REST calls and the events websocket), the
events parsed into frozen values, and Asterisk's syntax for what we ask of it."""

from ari_app.ari.events import AriEvent
from ari_app.ari.protocol import Ari, ConnectHandler, EventHandler

__all__ = ["Ari", "AriEvent", "ConnectHandler", "EventHandler"]
