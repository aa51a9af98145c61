"""Asterisk's syntax for what the service asks of it, spelled in one place."""

from __future__ import annotations

from ari_app.ari.asterisk import CALL_CONTEXT, Originate, endpoint, media_uris, originate_request


def test_an_originate_in_asterisk_s_words() -> None:
    params, variables = originate_request(Originate(
        channel_id="c1", trunk="carrier-acme", number="0044207", caller_id="+15550100",
        ring_timeout=25, request_id="r1", first_entry=("/srv/m/calls/s/0", "beep"),
        app="ari-app"))
    assert params == {"endpoint": "PJSIP/0044207@carrier-acme", "context": CALL_CONTEXT,
                      "extension": "s", "priority": "1", "callerId": "+15550100",
                      "timeout": "25"}
    assert variables == {"PJSIP_HEADER(add,X-Ari-App-Request)": "r1",
                         "ARI_APP_FIRST": "/srv/m/calls/s/0&beep", "ARI_APP_NAME": "ari-app"}


def test_endpoints_and_media() -> None:
    assert endpoint("carrier-acme") == "PJSIP/carrier-acme"
    assert media_uris(["/srv/m/calls/s/1", "digits/5"]) == ["sound:/srv/m/calls/s/1",
                                                             "sound:digits/5"]


def test_a_carrier_s_headers_and_a_withheld_caller_id_go_on_the_channel() -> None:
    params, variables = originate_request(Originate(
        channel_id="c1", trunk="t", number="1", caller_id="+15550100", ring_timeout=25,
        request_id="r1", first_entry=(), app="ari-app", headers=(("X-Account", "77"),),
        withhold_caller_id=True))
    assert variables["PJSIP_HEADER(add,X-Account)"] == "77"
    assert "callerId" not in params  # ARI would set it back to presentation allowed
    assert variables["CONNECTEDLINE(num,i)"] == "+15550100"
    assert variables["CONNECTEDLINE(pres,i)"] == "prohib"
    assert variables["CALLERID(pres)"] == "prohib"
    assert variables["PJSIP_HEADER(add,X-Ari-App-Request)"] == "r1"
