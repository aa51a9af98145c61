"""Where calls may go: `to` normalised to E.164, then checked against the deployment's
allow-list of countries, the built-in table of risky ranges, and a deny-list.

Normalisation (documented in the README):
  "+CC…"  is E.164 already;   "00CC…" is "+CC…";
  "0…"    (one leading zero) is a national number of `destinations.national_country`,
          its zero being the national trunk prefix ("07700900123" -> "+447700900123");
  other digits are E.164 without the "+" ("12125551212" -> "+12125551212").
The result must have 8 to 15 digits (E.164's maximum).

Toll fraud (IRSF) pays out on premium-rate, shared-cost and international-network
numbers, so those are refused even inside an allowed country unless a prefix of
`destinations.allow_ranges` covers them. The table is conservative and short: it
names ranges by prefix, for the countries most targeted; deny more with
`destinations.deny`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ari_app.errors import DestinationForbidden, InvalidField

_DIGITS = re.compile(r"^\+?[0-9]+$")

RISKY: dict[str, str] = {
    # International networks and satellite (ITU-T E.164 shared codes)
    "870": "satellite (Inmarsat)", "871": "satellite (Inmarsat)", "872": "satellite (Inmarsat)",
    "873": "satellite (Inmarsat)", "874": "satellite (Inmarsat)",
    "881": "satellite (global mobile satellite system)", "882": "international network",
    "883": "international network", "888": "international network (OCHA)",
    "878": "universal personal telecommunications", "979": "international premium rate",
    "808": "international shared cost", "991": "international public correspondence trial",
    # North America
    "1900": "premium rate (NANP 900)", "1976": "premium rate (NANP 976)",
    # United Kingdom
    "4490": "premium rate (UK 090)", "4491": "premium rate (UK 091)",
    "4498": "premium rate (UK 098)", "4470": "personal numbering (UK 070)",
    "44843": "shared cost (UK 084)", "44844": "shared cost (UK 084)",
    "44845": "shared cost (UK 084)", "44870": "shared cost (UK 087)",
    "44871": "shared cost (UK 087)", "44872": "shared cost (UK 087)",
    "44873": "shared cost (UK 087)",
    # Germany
    "49900": "premium rate (DE 0900)", "49137": "mass traffic (DE 0137)",
    "49180": "shared cost (DE 0180)", "49118": "directory services (DE 118)",
    # France
    "3389": "premium rate (FR 089)", "3381": "shared cost (FR 081)",
    "3382": "shared cost (FR 082)",
    # Italy
    "39899": "premium rate (IT 899)", "39892": "premium rate (IT 892)",
    "39894": "premium rate (IT 894)", "39895": "premium rate (IT 895)",
    # Spain
    "34803": "premium rate (ES 803)", "34806": "premium rate (ES 806)",
    "34807": "premium rate (ES 807)", "34905": "premium rate (ES 905)",
    "34901": "shared cost (ES 901)", "34902": "shared cost (ES 902)",
    # Australia
    "61190": "premium rate (AU 190)",
}


def normalize(number: str, national_country: str | None) -> str:
    """`to` as E.164 ("+" and 8 to 15 digits), per the rule above; InvalidField if not."""
    if not _DIGITS.match(number):
        raise InvalidField("'to' must be digits with an optional leading '+'", field="to")
    if number.startswith("+"):
        digits = number[1:]
    elif number.startswith("00"):
        digits = number[2:]
    elif number.startswith("0"):
        if not national_country:
            raise InvalidField("'to' is a national number (leading 0) but no "
                               "destinations.national_country is set: use +CC…", field="to")
        digits = national_country + number[1:]
    else:
        digits = number
    if not 8 <= len(digits) <= 15 or digits.startswith("0"):
        raise InvalidField("'to' must be an E.164 number: 8 to 15 digits after '+CC'",
                           field="to")
    return f"+{digits}"


def prefix_digits(text: str) -> str | None:
    """A number prefix given as "+44", "44" or "+1 900", as its digits; None if it is not one."""
    digits = text.replace(" ", "").lstrip("+")
    return digits if digits.isdigit() and len(digits) <= 15 else None


def _covered(digits: str, prefixes: Sequence[str]) -> str | None:
    """The longest of `prefixes` that `digits` starts with."""
    found = [p for p in prefixes if digits.startswith(p)]
    return max(found, key=len) if found else None


@dataclass(frozen=True)
class Policy:
    allowed: tuple[str, ...]
    """Calling codes or longer prefixes (digits, no '+') that may be called."""
    allow_ranges: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    def check(self, e164: str, *, key_countries: Sequence[str] | None = None) -> None:
        """Raise DestinationForbidden (403) with the reason if `e164` may not be called."""
        digits = e164.lstrip("+")
        if _covered(digits, self.deny):
            raise DestinationForbidden("the number is on the deny-list "
                                       "(destinations.deny)", field="to")
        if not self.allowed:
            raise DestinationForbidden("no destination is allowed yet: set "
                                       "destinations.allowed_countries", field="to")
        if not _covered(digits, self.allowed):
            raise DestinationForbidden("the destination country is not allowed "
                                       "(destinations.allowed_countries)", field="to")
        risky = _covered(digits, tuple(RISKY))
        if risky is not None and not _covered(digits, self.allow_ranges):
            raise DestinationForbidden(f"{RISKY[risky]} numbers are refused unless "
                                       "allowed by destinations.allow_ranges", field="to")
        if key_countries is not None and not _covered(digits, key_countries):
            raise DestinationForbidden("this API key may not call this destination",
                                       field="to")
