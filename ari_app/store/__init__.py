"""Where calls, their attempts and callbacks, API keys, idempotency keys and the breaker's
state are kept: SQLite by default, PostgreSQL with `storage.url`.

    store.py       the store: its engine and every repository over it (`open_store`)
    database.py    what every engine shares: the writer's thread, group commit, reads
    sqlite.py      SQLite                          postgres.py     PostgreSQL
    migrations.py  the schema, as numbered migrations, the same on both
    calls.py       calls and their attempts        outbox.py       callback events
    keys.py        API keys                        breaker.py      the circuit breaker
    idempotency.py idempotency keys                protocols.py    what consumers need
    verifications.py verifications and their sealed codes
    encoding.py    requests as the store keeps them
"""

from ari_app.store.protocols import (
    BreakerStore,
    CallStore,
    IdempotencyStore,
    KeyStore,
    Outbox,
    Pingable,
    RecentCalls,
    SlotStore,
    VerificationStore,
)
from ari_app.store.records import (
    AttemptEnd,
    AttemptRecord,
    BreakerTrip,
    CallRecord,
    CallUpdate,
    Delivery,
    DeliveryResult,
    Idempotency,
    Origin,
    RecentCall,
)
from ari_app.store.store import Store, open_store

__all__ = [
    "AttemptEnd", "AttemptRecord", "BreakerStore", "BreakerTrip", "CallRecord", "CallStore",
    "CallUpdate", "Delivery", "DeliveryResult", "Idempotency", "IdempotencyStore", "KeyStore",
    "Origin", "Outbox", "Pingable", "RecentCall", "RecentCalls", "SlotStore", "Store",
    "VerificationStore", "open_store",
]
