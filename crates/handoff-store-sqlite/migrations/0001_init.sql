-- Handoffs: the whole record in `doc` (JSON), and the columns that queries filter and
-- sort on beside it. Ids are ULIDs, so the primary key also sorts by creation time.
CREATE TABLE handoffs (
    id            TEXT    NOT NULL PRIMARY KEY,
    agent         TEXT    NOT NULL,
    task          TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    level         INTEGER NOT NULL,
    assigned_team TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    sla_due_ms    INTEGER NOT NULL,
    expires_ms    INTEGER NOT NULL,
    created_ms    INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL,
    idem_key      TEXT,
    idem_sha256   TEXT,
    doc           TEXT    NOT NULL
);

-- A reviewer's inbox: one team, optionally one status, by SLA due time.
CREATE INDEX handoffs_team_due ON handoffs (assigned_team, sla_due_ms, id);
CREATE INDEX handoffs_team_status_due ON handoffs (assigned_team, status, sla_due_ms, id);
-- An agent's own handoffs, newest first.
CREATE INDEX handoffs_agent ON handoffs (agent, id);
-- Idempotency keys are scoped to the agent.
CREATE UNIQUE INDEX handoffs_idem ON handoffs (agent, idem_key) WHERE idem_key IS NOT NULL;

-- The audit log (SPEC §9): one row per entry, one column per field; never updated.
CREATE TABLE audit (
    seq        INTEGER NOT NULL PRIMARY KEY,
    at         TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    handoff_id TEXT,
    data       TEXT    NOT NULL,
    prev_hash  TEXT    NOT NULL,
    hash       TEXT    NOT NULL
);
CREATE INDEX audit_handoff ON audit (handoff_id, seq) WHERE handoff_id IS NOT NULL;

-- API keys, stored only as the SHA-256 of the key.
CREATE TABLE api_keys (
    name       TEXT NOT NULL PRIMARY KEY,
    role       TEXT NOT NULL,
    key_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

-- Small named values: the active policy text, the policy file's text at the last start.
CREATE TABLE settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
