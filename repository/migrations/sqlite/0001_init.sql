-- TwinFlow data repository, SQLite schema version 1.
-- Times are bigint microseconds since the Unix epoch (telemetry: nanoseconds).

CREATE TABLE changes (
    id       text PRIMARY KEY,
    twin_id  text NOT NULL,
    title    text NOT NULL DEFAULT '',
    author   text NOT NULL DEFAULT '',
    state    text NOT NULL,
    payload  text,
    report   text,
    version  bigint NOT NULL,
    created  bigint NOT NULL,
    updated  bigint NOT NULL
);
CREATE INDEX changes_twin_state ON changes (twin_id, state);
CREATE INDEX changes_updated ON changes (updated);

CREATE TABLE change_transitions (
    change_id  text NOT NULL REFERENCES changes (id),
    version    bigint NOT NULL,
    from_state text NOT NULL,
    to_state   text NOT NULL,
    actor      text NOT NULL DEFAULT '',
    reason     text NOT NULL DEFAULT '',
    report     text,
    at         bigint NOT NULL,
    ledger_seq bigint NOT NULL,
    PRIMARY KEY (change_id, version)
);

-- The ledger: append-only, hash-chained (see docs/repository.md).
CREATE TABLE ledger (
    seq       bigint PRIMARY KEY,
    at        bigint NOT NULL,
    kind      text NOT NULL,
    subject   text NOT NULL,
    payload   text NOT NULL,
    prev_hash blob NOT NULL,
    hash      blob NOT NULL
);
-- One row: the last seq and hash. Appends lock it (serializing the chain) and update it
-- in the same transaction, so verification also detects deletion of the newest records.
CREATE TABLE ledger_head (
    id   integer PRIMARY KEY CHECK (id = 1),
    seq  bigint NOT NULL,
    hash blob NOT NULL
);
INSERT INTO ledger_head (id, seq, hash) VALUES (1, 0, zeroblob(32));

CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'ledger is append-only: UPDATE refused');
END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'ledger is append-only: DELETE refused');
END;

CREATE TABLE telemetry_series (
    id     INTEGER PRIMARY KEY,
    device text NOT NULL,
    iface  text NOT NULL,
    metric text NOT NULL,
    UNIQUE (device, iface, metric)
);
-- Samples are stored in chunks: one row holds up to 2048 samples of one series, in
-- time order, encoded by the repository (see docs/repository.md, "Telemetry chunk
-- format"). t_min/t_max bound the chunk's timestamps (nanoseconds).
CREATE TABLE telemetry_chunks (
    id        INTEGER PRIMARY KEY,
    series_id integer NOT NULL,
    t_min     bigint NOT NULL,
    t_max     bigint NOT NULL,
    n         integer NOT NULL,
    data      blob NOT NULL
);
CREATE INDEX telemetry_chunks_series_tmax ON telemetry_chunks (series_id, t_max);

CREATE TABLE snapshots (
    twin_id  text NOT NULL,
    revision bigint NOT NULL,
    taken    bigint NOT NULL,
    data     blob NOT NULL,
    PRIMARY KEY (twin_id, revision)
);

CREATE TABLE intents (
    twin_id   text NOT NULL,
    revision  bigint NOT NULL,
    at        bigint NOT NULL,
    change_id text NOT NULL DEFAULT '',
    payload   blob NOT NULL,
    PRIMARY KEY (twin_id, revision)
);

CREATE TABLE datasets (
    id      text PRIMARY KEY,
    name    text NOT NULL,
    status  text NOT NULL,
    params  text,
    meta    text,
    created bigint NOT NULL,
    updated bigint NOT NULL
);

CREATE TABLE certifications (
    id        text PRIMARY KEY,
    change_id text NOT NULL DEFAULT '',
    verdict   text NOT NULL,
    report    text,
    created   bigint NOT NULL
);
CREATE INDEX certifications_change ON certifications (change_id);

CREATE TABLE users (
    id            text PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    role          text NOT NULL,
    password_hash blob,
    created       bigint NOT NULL
);

CREATE TABLE tokens (
    id      text PRIMARY KEY,
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name    text NOT NULL DEFAULT '',
    hash    blob NOT NULL UNIQUE,
    created bigint NOT NULL,
    expires bigint NOT NULL DEFAULT 0,
    revoked integer NOT NULL DEFAULT 0
);
