"""The OpenAPI 3.1 description of the API, served at /openapi.json."""

from __future__ import annotations

from typing import Any

from ari_app import __version__
from ari_app.api.openapi_verify import verify_paths
from ari_app.delivery import AMD_LIMITS
from ari_app.outcome import State
from ari_app.playlist import MAX_ENTRIES, MAX_REPEAT, MAX_TEXT
from ari_app.speech import GENDERS, LANGUAGES, SAY_AS

_ERROR = {
    "type": "object",
    "required": ["code", "status", "error_id", "message"],
    "properties": {
        "code": {"type": "integer", "description": "non-zero"},
        "status": {"type": "integer"},
        "error_id": {"type": "string"},
        "message": {"type": "string"},
        "field": {"type": ["string", "null"], "description": "the offending field"},
    },
}

_ENTRY = {
    "type": "object",
    "required": ["play"],
    "properties": {
        "play": {"type": ["string", "integer"],
                 "description": "text to speak (tts), the audio file's URL (url), milliseconds "
                                "of silence (pause) or an Asterisk sound's name (sound)"},
        "type": {"type": "string", "enum": ["tts", "url", "file", "audio", "pause", "sound"],
                 "default": "url"},
        "repeat": {"type": "integer", "minimum": 1, "maximum": MAX_REPEAT, "default": 1},
        "secret": {"type": "boolean", "default": False,
                   "description": "the entry holds a code (for prerecorded digits)"},
        "options": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "language": {"type": "string", "enum": list(LANGUAGES), "default": "en-US",
                             "description": "BCP 47; matched case-insensitively"},
                "gender": {"type": "string", "enum": list(GENDERS), "default": "female"},
                "say-as": {"type": "string", "enum": list(SAY_AS)},
                "pause": {"type": "integer", "minimum": 0, "maximum": 2000, "default": 250,
                          "description": "milliseconds between digits"},
                "rate": {"type": "integer", "minimum": 50, "maximum": 200, "default": 100,
                         "description": "speaking pace, percent of normal"},
                "group": {"type": "integer", "minimum": 0, "maximum": 8, "default": 0,
                          "description": "digits per group; a double pause between groups"},
            },
        },
    },
    "additionalProperties": False,
}

_MESSAGE = {"type": "array", "minItems": 1, "maxItems": MAX_ENTRIES, "items": _ENTRY,
            "description": "playlist entries; none may hold a code"}
_KEY = {"type": "string", "enum": [*"0123456789*#"]}
_SWITCH = {"type": "boolean", "default": True,
           "description": "an object given turns the option on unless this says false"}
_DELIVERY = {
    "type": "object", "additionalProperties": False,
    "description": "how the code is delivered; defaults: the config's `delivery:`",
    "properties": {
        "gate": {"type": ["object", "boolean", "null"], "additionalProperties": False,
                 "description": "a key press before any entry holding a code",
                 "properties": {
                     "enabled": _SWITCH, "prompt": _MESSAGE,
                     "keys": {"type": "string", "enum": ["any", *"0123456789*#"]},
                     "timeout": {"type": "integer", "minimum": 1, "maximum": 30},
                     "tries": {"type": "integer", "minimum": 1, "maximum": 5}}},
        "machine_detection": {
            "type": ["object", "boolean", "null"], "additionalProperties": False,
            "description": "Asterisk's AMD() on answer; a machine gets `voicemail`",
            "properties": {
                "enabled": _SWITCH,
                **{name: {"type": "integer", "minimum": low, "maximum": high}
                   for name, (low, high) in AMD_LIMITS.items()},
                "end_of_greeting": {"type": "integer", "minimum": 300, "maximum": 5000},
                "greeting_wait": {"type": "integer", "minimum": 1, "maximum": 60}}},
        "repeat": {"type": ["object", "boolean", "null"], "additionalProperties": False,
                   "description": "after the code, an offer to hear it again",
                   "properties": {
                       "enabled": _SWITCH, "key": _KEY, "prompt": _MESSAGE,
                       "times": {"type": "integer", "minimum": 1, "maximum": 5},
                       "timeout": {"type": "integer", "minimum": 1, "maximum": 30}}},
        "withheld": _MESSAGE,
        "voicemail": _MESSAGE,
    },
}

_PLAY = {
    "type": "object",
    "required": ["to", "carrier_id", "playlist"],
    "additionalProperties": False,
    "properties": {
        "to": {"type": "string", "pattern": r"^\+?[0-9]{3,20}$"},
        "from": {"type": "string", "description": "\"me\" (the carrier's default caller ID) "
                                                  "or one of the carrier's caller IDs"},
        "carrier_id": {"type": "string"},
        "playlist": {"type": "array", "minItems": 1, "maxItems": MAX_ENTRIES, "items": _ENTRY,
                     "description": f"tts text at most {MAX_TEXT} characters"},
        "callback_url": {"type": "string", "format": "uri", "maxLength": 500,
                         "description": "receives every state change, signed (see README); "
                                        "default: callbacks.url of the config"},
        "delivery": _DELIVERY,
    },
}

_CARRIER_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "maxLength": 100},
    "host": {"type": "string", "description": "host name or IP address of the carrier"},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 5060},
    "transport": {"type": "string", "enum": ["udp", "tcp", "tls"], "default": "udp",
                  "description": "tls needs the asterisk.tls section of the config"},
    "prefix": {"type": "string", "pattern": "^[0-9+]{0,10}$", "default": "",
               "description": "tech prefix put before every dialled number"},
    "codecs": {"type": "array", "items": {"type": "string"}, "default": ["ulaw", "alaw"]},
    "dtmf_mode": {"type": "string", "enum": ["rfc4733", "info", "inband", "auto", "auto_info"],
                  "default": "rfc4733"},
    "number_format": {"type": "string", "enum": ["e164", "00", "digits", "national"],
                      "default": "e164",
                      "description": "how '+' numbers are sent: +CC..., 00CC..., CC... or "
                                     "national_prefix + national number for country_code"},
    "country_code": {"type": "string", "pattern": "^[1-9][0-9]{0,2}$"},
    "national_prefix": {"type": "string", "default": "0"},
    "username": {"type": "string"},
    "password": {"type": "string", "writeOnly": True, "description": "never returned"},
    "register": {"type": "boolean", "default": False},
    "caller_ids": {"type": "array", "items": {"type": "string", "pattern": "^\\+?[0-9]{1,20}$"}},
    "max_channels": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 30},
    "max_cps": {"type": "number", "minimum": 0.1, "maximum": 1000, "default": 10},
    "priority": {"type": "integer", "minimum": 0, "maximum": 1000, "default": 100,
                 "description": "lower is tried first within the failover group"},
    "failover_group": {"type": "string"},
    "media_base_url": {"type": "string", "format": "uri"},
    "endpoint": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$",
                 "description": "a PJSIP endpoint the PBX already defines: nothing is "
                                "rendered, and the trunk options are the PBX's"},
    "registration": {"type": "string", "description": "the PBX's registration of `endpoint` "
                                                      "(default: the endpoint's name)"},
    "media_encryption": {"type": "string", "enum": ["none", "sdes"], "default": "none"},
    "outbound_proxy": {"type": "string", "description": "sip:host[:port][;lr]"},
    "from_user": {"type": "string", "description": "default: username"},
    "from_domain": {"type": "string"},
    "caller_id_header": {"type": "string", "enum": ["pai", "rpid", "both", "none"],
                         "default": "pai"},
    "caller_id_privacy": {"type": "boolean", "default": False},
    "qualify_frequency": {"type": "integer", "minimum": 0, "maximum": 3600, "default": 60},
    "headers": {"type": "object", "additionalProperties": {"type": "string"},
                "description": "extra INVITE headers: X-… or P-Charge-Info, "
                               "P-Preferred-Service, P-Asserted-Service, User-to-User"},
}

_CARRIER_IN = {
    "type": "object", "additionalProperties": False,
    "anyOf": [{"required": ["host"]}, {"required": ["endpoint"]}],
    "properties": {"id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$",
                          "description": "chosen for you (8 digits) when left out"},
                   **_CARRIER_FIELDS},
}

_CARRIER_OUT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        **{k: v for k, v in _CARRIER_FIELDS.items() if k != "password"},
        "password_set": {"type": "boolean"},
        "managed": {"type": "boolean",
                    "description": "false: defined in the main config, read-only here"},
        "live_calls": {"type": "integer"},
        "held_back_seconds": {"type": ["number", "null"],
                              "description": "set while failing over away from it"},
        "live": {"type": "object", "description": "GET /carriers/{id} only: registration "
                                                  "and reachability from Asterisk (AMI)"},
    },
}

_STATUS = {
    "type": "object",
    "properties": {
        "request_id": {"type": "string", "format": "uuid"},
        "state": {"type": "string", "enum": [s.value for s in State]},
        "carrier_id": {"type": "string"},
        "to": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "answered_at": {"type": ["string", "null"], "format": "date-time"},
        "ended_at": {"type": ["string", "null"], "format": "date-time"},
        "duration": {"type": ["number", "null"], "description": "seconds from answer to end"},
        "hangup": {
            "type": ["object", "null"],
            "properties": {
                "cause": {"type": "integer", "description": "Q.850 cause"},
                "cause_txt": {"type": "string"},
                "sip_code": {"type": ["integer", "null"]},
            },
        },
        "entries": {"type": "array", "items": {
            "type": "object",
            "properties": {"index": {"type": "integer"}, "type": {"type": "string"},
                           "played": {"type": "boolean"}},
        }},
        "answer_to_audio_ms": {"type": ["number", "null"],
                               "description": "from answer to the first playback starting"},
        "speech_engines": {"type": "array", "items": {"type": "string"}},
        "audio_seconds": {"type": ["number", "null"],
                          "description": "length of everything the call plays"},
        "error": {"type": ["object", "null"]},
        "queue_position": {"type": ["integer", "null"],
                           "description": "1 for the next call to go, while queued"},
        "attempts": {"type": "array", "items": {
            "type": "object",
            "properties": {"carrier_id": {"type": "string"},
                           "started_at": {"type": "string", "format": "date-time"},
                           "ended_at": {"type": ["string", "null"], "format": "date-time"},
                           "sip_code": {"type": ["integer", "null"]},
                           "cause": {"type": ["integer", "null"]},
                           "cause_txt": {"type": ["string", "null"]},
                           "outcome": {"type": ["string", "null"]}},
        }},
        "callbacks": {"type": "array", "items": {
            "type": "object",
            "properties": {"event_id": {"type": "string"}, "state": {"type": "string"},
                           "delivery": {"type": "string",
                                        "enum": ["pending", "delivered", "given_up"]},
                           "attempts": {"type": "integer"},
                           "last_status": {"type": ["integer", "null"]},
                           "last_error": {"type": ["string", "null"]},
                           "delivered_at": {"type": ["string", "null"], "format": "date-time"}},
        }},
    },
}

_CARRIER_ID = [{"name": "carrier_id", "in": "path", "required": True,
                "schema": {"type": "string"}}]


def _carrier_paths() -> dict[str, Any]:
    one = {"content": {"application/json": {"schema": _CARRIER_OUT}}}
    body = {"required": True, "content": {"application/json": {"schema": _CARRIER_IN}}}
    return {
        "/carriers": {
            "get": {"summary": "Every carrier (passwords never shown)",
                    "responses": {"200": {"description": "the carriers", "content": {
                        "application/json": {"schema": {"type": "object", "properties": {
                            "carriers": {"type": "array", "items": _CARRIER_OUT}}}}}}}},
            "post": {"summary": "Add a carrier: written to the carriers file, rendered, "
                                "reloaded in Asterisk; rolled back if Asterisk refuses",
                     "requestBody": body,
                     "responses": {"201": {"description": "added", **one},
                                   **_errors(400, 409, 422, 502)}},
        },
        "/carriers/{carrier_id}": {
            "get": {"summary": "A carrier, with its live registration and reachability",
                    "parameters": _CARRIER_ID,
                    "responses": {"200": {"description": "the carrier", **one},
                                  **_errors(404)}},
            "put": {"summary": "Replace a carrier (without `password`: keep the stored one)",
                    "parameters": _CARRIER_ID, "requestBody": body,
                    "responses": {"200": {"description": "changed", **one},
                                  **_errors(400, 404, 409, 422, 502)}},
            "delete": {"summary": "Remove a carrier added through the API",
                       "parameters": _CARRIER_ID,
                       "responses": {"200": {"description": "removed"},
                                     **_errors(404, 409, 502)}},
        },
    }


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): {"description": "error",
                        "content": {"application/json": {"schema": _ERROR}}} for code in codes}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "ari-app", "version": __version__,
                 "description": "Voice verification calls on Asterisk."},
        "components": {"securitySchemes": {"apiKey": {
            "type": "http", "scheme": "bearer",
            "description": "an API key from `ari-app keys create`"}}},
        "security": [{"apiKey": []}],
        "paths": {
            "/voice/call/play": {"post": {
                "summary": "Place a call that plays the playlist, then hangs up",
                "parameters": [{
                    "name": "Idempotency-Key", "in": "header", "required": False,
                    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,200}$"},
                    "description": "a repeat with the same key returns the first answer and "
                                   "places no second call; with another body it is a 422",
                }],
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": _PLAY}}},
                "responses": {
                    "202": {"description": "stored and queued", "content": {"application/json": {
                        "schema": {"type": "object", "properties": {
                            "code": {"const": 0}, "status": {"const": 200},
                            "data": {"const": "accepted"},
                            "request_id": {"type": "string", "format": "uuid"}}}}}},
                    **_errors(400, 401, 403, 413, 422, 429, 503),
                },
            }},
            "/voice/playlist/render": {"post": {
                "summary": "The exact audio (8 kHz WAV) a call with this playlist would play",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["playlist"],
                    "properties": {"playlist": _PLAY["properties"]["playlist"]},  # type: ignore[index]
                }}}},
                "responses": {
                    "200": {"description": "the audio",
                            "content": {"audio/wav": {"schema": {"type": "string",
                                                                 "format": "binary"}}}},
                    **_errors(400, 413, 422),
                },
            }},
            "/voice/call/{request_id}": {"delete": {
                "summary": "Cancel a queued call or hang up a live one; it ends `canceled`",
                "parameters": [{"name": "request_id", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"202": {"description": "canceling"}, **_errors(404, 409)},
            }},
            "/openapi.json": {"get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3 document",
                                      "content": {"application/json": {
                                          "schema": {"type": "object"}}}}},
            }},
            "/metrics": {"get": {
                "summary": "Prometheus metrics",
                "responses": {"200": {"description": "text exposition format",
                                      "content": {"text/plain": {"schema": {"type": "string"}}}}},
            }},
            "/health": {"get": {
                "summary": "ARI, AMI, the database, each speech engine and each carrier",
                "security": [],
                "responses": {"200": {"description": "everything works"},
                              "503": {"description": "something does not; the body says what"}},
            }},
            "/voice/call/status/{request_id}": {"get": {
                "summary": "The state and outcome of a call",
                "parameters": [
                    {"name": "request_id", "in": "path", "required": True,
                     "schema": {"type": "string"}},
                    {"name": "wait", "in": "query", "required": False,
                     "description": "answer when the call ends, or after this many seconds",
                     "schema": {"type": "number", "minimum": 0, "maximum": 60}},
                ],
                "responses": {
                    "200": {"description": "the call",
                            "content": {"application/json": {"schema": _STATUS}}},
                    **_errors(404, 422),
                },
            }},
            **_carrier_paths(),
            **verify_paths(_DELIVERY, _errors),
            "/admin/breaker": {
                "get": {"summary": "The circuit breaker: tripped (no dialling) or not, since "
                                   "when and why",
                        "responses": {"200": {"description": "its state"}, **_errors(401)}},
                "delete": {"summary": "Reset a tripped breaker: dialling resumes "
                                      "(a key without carrier or country limits)",
                           "responses": {"200": {"description": "reset"},
                                         **_errors(401, 403)}},
            },
        },
    }
