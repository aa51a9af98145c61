"""Verifications: the service makes the code, calls, and checks it; the client never holds one.

    rules.py    statuses, attempts, sends, expiry, the code (pure)
    request.py  a POST /verify body, validated
    locales.py  what is said, per language; a number's language from its country code
    message.py  the call a verification places
    fraud.py    conversion by carrier and prefix; the low-conversion alert
    service.py  start, check, resend, cancel, expire: the decisions, told once
    config.py   the config's `verify:` section
"""
