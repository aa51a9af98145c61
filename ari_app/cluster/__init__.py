"""Several service instances on one PostgreSQL database (`storage.url`).

    config.py      the `cluster:` section: this instance's name, heartbeat, when one is dead
    slots.py       carrier channels granted from the database: limits across all instances
    listener.py    LISTEN/NOTIFY: an instance is woken when another frees a channel
    membership.py  heartbeats; a survivor takes over the calls of an instance that died

Each instance places the calls it accepted; what they share is in the database: the
calls and their queue order, the channels each carrier has live (so `max_channels`,
`max_cps` and `calls.max_channels` hold across all of them), velocity counts, the
breaker, idempotency keys, API keys and verifications.
"""
