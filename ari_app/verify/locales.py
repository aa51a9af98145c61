"""What a verification call says, in the callee's language: "Your <brand> code is", the gate's
"press any key", and where a number's language is guessed from its country code.

One short table, reviewed per language (formal register where the language has one;
each prompt read back through espeak-ng with a brand and a key filled in). A language
is offered only when it has a row here and a configured engine speaks it (the digits
are spoken by the same voice, one clip per digit, so they come in the language too).
A locale asked for by name is spoken as asked or refused (422); English stands in only
for a locale the service guessed from the number's country code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Phrases:
    code_is: str
    brand_code_is: str
    """With `{brand}` where the brand goes."""
    press_any: str
    press_key: str
    """With `{key}` where the key goes: a digit. (A speech engine reads `*` and `#` in some
    languages as nothing, or in the wrong case: those keys keep the English prompt.)"""


PHRASES: Mapping[str, Phrases] = MappingProxyType({
    "en": Phrases("Your code is", "Your {brand} code is",
                  "Please press any key to hear your code.",
                  "Please press {key} to hear your code."),
    "es": Phrases("Su código es", "Su código de {brand} es",
                  "Pulse cualquier tecla para escuchar su código.",
                  "Pulse {key} para escuchar su código."),
    "fr": Phrases("Votre code est", "Votre code {brand} est",
                  "Appuyez sur une touche pour entendre votre code.",
                  "Appuyez sur la touche {key} pour entendre votre code."),
    "de": Phrases("Ihr Code lautet", "Ihr Code für {brand} lautet",
                  "Drücken Sie eine beliebige Taste, um Ihren Code zu hören.",
                  "Drücken Sie die Taste {key}, um Ihren Code zu hören."),
    "it": Phrases("Il suo codice è", "Il suo codice {brand} è",
                  "Prema un tasto qualsiasi per ascoltare il suo codice.",
                  "Prema il tasto {key} per ascoltare il suo codice."),
    "pt": Phrases("O seu código é", "O seu código {brand} é",
                  "Pressione qualquer tecla para ouvir o seu código.",
                  "Pressione {key} para ouvir o seu código."),
    "nl": Phrases("Uw code is", "Uw code voor {brand} is",
                  "Druk op een toets om uw code te horen.",
                  "Druk op {key} om uw code te horen."),
    "sv": Phrases("Din kod är", "Din kod för {brand} är",
                  "Tryck på valfri knapp för att höra din kod.",
                  "Tryck {key} för att höra din kod."),
    "da": Phrases("Din kode er", "Din kode til {brand} er",
                  "Tryk på en vilkårlig tast for at høre din kode.",
                  "Tryk {key} for at høre din kode."),
    "nb": Phrases("Koden din er", "Koden din for {brand} er",
                  "Trykk på en hvilken som helst tast for å høre koden din.",
                  "Trykk {key} for å høre koden din."),
    "pl": Phrases("Państwa kod to", "Państwa kod {brand} to",
                  "Proszę nacisnąć dowolny klawisz, aby usłyszeć kod.",
                  "Proszę nacisnąć klawisz {key}, aby usłyszeć kod."),
    "cs": Phrases("Váš kód je", "Váš kód pro {brand} je",
                  "Stiskněte libovolnou klávesu a uslyšíte svůj kód.",
                  "Stiskněte klávesu {key} a uslyšíte svůj kód."),
    "ro": Phrases("Codul dumneavoastră este", "Codul dumneavoastră pentru {brand} este",
                  "Apăsați orice tastă pentru a auzi codul.",
                  "Apăsați tasta {key} pentru a auzi codul."),
    "tr": Phrases("Kodunuz", "{brand} kodunuz",
                  "Kodunuzu duymak için herhangi bir tuşa basın.",
                  "Kodunuzu duymak için {key} tuşuna basın."),
    "ru": Phrases("Ваш код", "Ваш код {brand}",
                  "Нажмите любую клавишу, чтобы услышать код.",
                  "Нажмите клавишу {key}, чтобы услышать код."),
})
"""Language (BCP 47 primary subtag; `no` is spoken as `nb`) -> phrases."""

COUNTRY_LOCALES: Mapping[str, str] = MappingProxyType({
    "1": "en-US", "44": "en-GB", "61": "en-AU", "64": "en-GB", "353": "en-GB",
    "33": "fr-FR", "49": "de-DE", "43": "de-AT", "34": "es-ES", "52": "es-MX",
    "54": "es-419", "56": "es-419", "57": "es-419", "39": "it-IT", "351": "pt-PT",
    "55": "pt-BR", "31": "nl-NL", "46": "sv-SE", "45": "da-DK", "47": "nb-NO",
    "48": "pl-PL", "420": "cs-CZ", "40": "ro-RO", "90": "tr-TR", "7": "ru-RU",
})
"""Country calling code -> locale, where one language is the clear choice (Belgium,
Switzerland, India… are left to `verify.default_locale` or the admin's `verify.locales`)."""


def language_of(locale: str) -> str:
    primary = locale.split("-")[0].lower()
    return "nb" if primary == "no" else primary


def phrases(locale: str) -> Phrases | None:
    return PHRASES.get(language_of(locale))


def country_locale(e164: str, table: Mapping[str, str]) -> str | None:
    """The locale of the longest country code (1 to 3 digits) that `e164` starts with."""
    digits = e164.lstrip("+")
    for length in (3, 2, 1):
        found = table.get(digits[:length])
        if found is not None:
            return found
    return None
