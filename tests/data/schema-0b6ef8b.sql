-- The schema of ari-app as on main at 0b6ef8b, before numbered migrations: what its
-- SqliteStore made of a new database (_SCHEMA, then CREATE_LATER). user_version stayed 0.
CREATE TABLE IF NOT EXISTS calls (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    carrier_id TEXT NOT NULL,
    to_number TEXT NOT NULL,
    caller_id TEXT NOT NULL,
    entry_types TEXT NOT NULL,
    request TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    answered_at REAL,
    ended_at REAL,
    cause INTEGER,
    cause_txt TEXT,
    sip_code INTEGER,
    played INTEGER NOT NULL DEFAULT 0,
    answer_to_audio_ms REAL,
    speech_engines TEXT,
    audio_seconds REAL,
    error_id TEXT,
    error TEXT,
    callback_url TEXT,
    api_key TEXT,
    client TEXT,
    est_cost REAL
);
CREATE INDEX IF NOT EXISTS calls_unfinished ON calls (state) WHERE request IS NOT NULL;
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    body_hash TEXT NOT NULL,
    request_id TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS attempts (
    call_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    carrier_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    sip_code INTEGER,
    cause INTEGER,
    cause_txt TEXT,
    outcome TEXT,
    PRIMARY KEY (call_id, n)
);
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    call_id TEXT NOT NULL,
    url TEXT NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    next_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_error TEXT,
    delivered_at REAL
);
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    hash TEXT NOT NULL,
    carriers TEXT,
    countries TEXT,
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE TABLE IF NOT EXISTS breaker (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    tripped_at REAL NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (next_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_call ON deliveries (call_id);
CREATE INDEX IF NOT EXISTS calls_to ON calls (to_number, created_at);
CREATE INDEX IF NOT EXISTS calls_key ON calls (api_key, created_at);
CREATE INDEX IF NOT EXISTS calls_client ON calls (client, created_at);
CREATE INDEX IF NOT EXISTS calls_created ON calls (created_at);
