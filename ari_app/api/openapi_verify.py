"""The verify endpoints' part of the OpenAPI document (openapi.py includes it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ari_app.verify.request import CODE_LENGTHS, EXPIRY_SECONDS, READINGS
from ari_app.verify.rules import MAX_CHECKS, MAX_SENDS, Status

_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
_STATUSES = [s.value for s in Status]
_VERIFICATION = {
    "type": "object",
    "required": ["id", "status", "to", "expires_at", "sends", "attempts_left"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "status": {"type": "string", "enum": _STATUSES},
        "to": {"type": "string", "description": "E.164"},
        "carrier_id": {"type": "string"}, "locale": {"type": "string"},
        "code_length": {"type": "integer"},
        "created_at": {"type": "string"}, "expires_at": {"type": "string"},
        "ended_at": {"type": ["string", "null"]}, "last_send_at": {"type": ["string", "null"]},
        "sends": {"type": "integer", "maximum": MAX_SENDS},
        "attempts": {"type": "integer", "description": "wrong codes checked"},
        "attempts_left": {"type": "integer", "maximum": MAX_CHECKS},
        "calls": {"type": "array", "description": "GET only: each send's call",
                  "items": {"type": "object", "properties": {
                      "call_id": {"type": "string"}, "state": {"type": "string"},
                      "verdict": {"type": ["string", "null"]},
                      "created_at": {"type": "string"},
                      "ended_at": {"type": ["string", "null"]}}}},
    },
}


def verify_paths(delivery: dict[str, Any],
                 errors: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    found = {"200": {"description": "the verification",
                     "content": {"application/json": {"schema": _VERIFICATION}}}}
    return {
        "/verify": {"post": {
            "summary": "Start a verification: the service makes a code and calls `to` to say "
                       "it. A pending one of this key to this number is called again instead "
                       "(200, same id and code)",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["to"], "additionalProperties": False,
                "properties": {
                    "to": {"type": "string", "pattern": r"^\+?[0-9]{3,20}$"},
                    "from": {"type": "string", "default": "me"},
                    "carrier_id": {"type": "string",
                                   "description": "default: the config's verify.carrier"},
                    "locale": {"type": "string", "description": "BCP 47; default: from the "
                               "number's country code, else verify.default_locale"},
                    "code_length": {"type": "integer", "minimum": CODE_LENGTHS[0],
                                    "maximum": CODE_LENGTHS[1], "default": 6},
                    "expires_in": {"type": "integer", "minimum": EXPIRY_SECONDS[0],
                                   "maximum": EXPIRY_SECONDS[1], "default": 600},
                    "brand": {"type": "string", "minLength": 1, "maxLength": 30,
                              "description": "letters, digits and spaces"},
                    "repeat": {"type": "integer", "minimum": READINGS[0],
                               "maximum": READINGS[1], "default": 3,
                               "description": "readings of the code"},
                    "delivery": delivery,
                    "callback_url": {"type": "string", "format": "uri"},
                }}}}},
            "responses": {"201": {"description": "started",
                                  "content": {"application/json": {"schema": _VERIFICATION}}},
                          **found, **errors(400, 401, 403, 409, 413, 422, 429, 503)},
        }},
        "/verify/{id}": {
            "get": {"summary": "A verification, with each of its calls and their verdicts",
                    "parameters": _ID, "responses": {**found, **errors(401, 404)}},
            "delete": {"summary": "Cancel a pending verification: its code is deleted",
                       "parameters": _ID, "responses": {**found, **errors(401, 404, 409)}},
        },
        "/verify/{id}/check": {"post": {
            "summary": f"Check a code: `approved` once, or `pending` with `attempts_left`; "
                       f"the {MAX_CHECKS}th wrong code ends it `max_attempts_reached`. "
                       "A verification that has ended answers 409 with its status",
            "parameters": _ID,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["code"], "additionalProperties": False,
                "properties": {"code": {"type": "string", "pattern": "^[0-9]{4,10}$"}}}}}},
            "responses": {"200": {"description": "checked", "content": {"application/json": {
                "schema": {"type": "object", "properties": {
                    "id": {"type": "string"}, "status": {"type": "string", "enum": _STATUSES},
                    "attempts_left": {"type": "integer"}}}}}},
                **errors(400, 401, 404, 409, 422)},
        }},
        "/verify/{id}/resend": {"post": {
            "summary": f"Call again with the same code: at most {MAX_SENDS} calls, one per "
                       "verify.resend_interval (429 with Retry-After)",
            "parameters": _ID,
            "responses": {**found, **errors(401, 403, 404, 409, 429, 503)},
        }},
    }
