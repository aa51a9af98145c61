"""A carrier: one SIP trunk the service dials out through, its limits and its dial rules.

A carrier is either rendered by us (`host` and the trunk options: its PJSIP objects are
`carrier-<id>` in `pjsip.conf`) or an endpoint the PBX already defines (`endpoint`: nothing
is rendered for it). How one is read from the config is carrier_config.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from ari_app.config_reader import Secret

TRUNK_PREFIX = "carrier-"
"""Names of the PJSIP objects we render; an existing endpoint may not use it."""


@dataclass(frozen=True)
class Carrier:
    id: str
    host: str
    port: int
    transport: str
    username: str | None
    password: Secret | None
    register: bool
    codecs: tuple[str, ...]
    prefix: str
    caller_ids: tuple[str, ...]
    media_base_url: str | None = None
    """Relative playlist paths of this carrier's calls are taken under this URL."""
    name: str = ""
    number_format: str = "e164"
    country_code: str = ""
    national_prefix: str = "0"
    max_channels: int = 30
    max_cps: float = 10.0
    priority: int = 100
    failover_group: str | None = None
    dtmf_mode: str = "rfc4733"
    """How the carrier sends key presses: RTP events (RFC 4733, the usual), SIP INFO,
    in the audio, or `auto` (RFC 4733 when offered, else in the audio)."""
    endpoint: str | None = None
    """A PJSIP endpoint the PBX already defines: used as it is, nothing rendered."""
    registration: str | None = None
    """The PBX's outbound registration that belongs to `endpoint`, for health."""
    media_encryption: str = "none"
    """`sdes`: SRTP with keys in the SDP (send it over TLS)."""
    outbound_proxy: str | None = None
    from_user: str | None = None
    from_domain: str | None = None
    caller_id_header: str = "pai"
    """How the caller ID goes besides From: P-Asserted-Identity, Remote-Party-ID, both, none."""
    caller_id_privacy: bool = False
    """Ask the carrier to withhold the caller ID from the callee (Privacy: id)."""
    qualify_frequency: int = 60
    headers: tuple[tuple[str, str], ...] = ()
    """Extra headers on every INVITE, names from an allow-list (carrier_config.py)."""

    def dial_number(self, number: str) -> str:
        """The number as this carrier wants it, with its tech prefix.

        Numbers given with '+' are E.164 and are rewritten per `number_format`;
        numbers without '+' are passed as they are.
        """
        if number.startswith("+") and self.number_format != "e164":
            digits = number[1:]
            if self.number_format == "digits":
                number = digits
            elif self.number_format == "national" and digits.startswith(self.country_code):
                number = self.national_prefix + digits[len(self.country_code):]
            else:
                number = "00" + digits
        return f"{self.prefix}{number}"

    @property
    def trunk(self) -> str:
        """The PJSIP endpoint of this carrier in Asterisk (also its aor/auth name when
        rendered)."""
        return self.endpoint or f"{TRUNK_PREFIX}{self.id}"

    @property
    def rendered(self) -> bool:
        return self.endpoint is None

    @property
    def registration_name(self) -> str | None:
        """The outbound registration whose status is this carrier's, if it has one."""
        if self.endpoint is not None:
            return self.registration or self.endpoint
        return f"{self.trunk}-reg" if self.register else None

    @property
    def default_caller_id(self) -> str | None:
        return self.caller_ids[0] if self.caller_ids else None

    def caller_id_for(self, requested: str) -> str:
        """The requested caller ID if this carrier allows it, else its own first one (a
        call that failed over keeps a caller ID the next carrier takes)."""
        if not self.caller_ids or requested in self.caller_ids:
            return requested
        return self.default_caller_id or ""
