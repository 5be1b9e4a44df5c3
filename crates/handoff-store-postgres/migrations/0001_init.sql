-- The whole schema of the PostgreSQL store, in one migration: the same tables as the
-- SQLite store after its seven, plus what several nodes need (delivery leases).
-- Timestamps the audit chain hashes are text (RFC 3339, milliseconds, as hashed); the
-- others are Unix milliseconds. JSON is kept as text, byte for byte as serialised.

-- Handoffs: the record written once at creation (`doc`), the part that changes
-- (`state`, laid over `doc` when read; NULL until the first change), and the columns
-- queries filter and sort on. Ids are ULIDs: the primary key sorts by creation time.
CREATE TABLE handoffs (
    id            TEXT    NOT NULL PRIMARY KEY,
    agent         TEXT    NOT NULL,
    task          TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    level         INTEGER NOT NULL,
    assigned_team TEXT    NOT NULL,
    version       BIGINT  NOT NULL,
    sla_due_ms    BIGINT  NOT NULL,
    expires_ms    BIGINT  NOT NULL,
    created_ms    BIGINT  NOT NULL,
    updated_ms    BIGINT  NOT NULL,
    idem_key      TEXT,
    idem_sha256   TEXT,
    -- The handoff its packet `supersedes` (SPEC §2), when it is a revision.
    supersedes    TEXT,
    -- The next deadline (`Handoff::next_deadline`); NULL when nothing is ahead.
    due_ms        BIGINT,
    -- Drawn for a spot check and not yet checked.
    spot_due      BOOLEAN,
    doc           TEXT    NOT NULL,
    state         TEXT
);
-- A reviewer's inbox: one team, optionally one status, by SLA due time.
CREATE INDEX handoffs_team_due ON handoffs (assigned_team, sla_due_ms, id);
CREATE INDEX handoffs_team_status_due ON handoffs (assigned_team, status, sla_due_ms, id);
-- An agent's own handoffs, newest first.
CREATE INDEX handoffs_agent ON handoffs (agent, id);
-- Idempotency keys are scoped to the agent.
CREATE UNIQUE INDEX handoffs_idem ON handoffs (agent, idem_key) WHERE idem_key IS NOT NULL;
-- The scheduler's queue.
CREATE INDEX handoffs_due ON handoffs (due_ms, id) WHERE due_ms IS NOT NULL;
-- The spot-check queue.
CREATE INDEX handoffs_spot ON handoffs (assigned_team, id) WHERE spot_due;
-- An agent's revisions of one handoff.
CREATE INDEX handoffs_supersedes ON handoffs (agent, supersedes, id) WHERE supersedes IS NOT NULL;
-- The decisions export and the open gauges.
CREATE INDEX handoffs_status ON handoffs (status);

-- The audit log (SPEC §9): one row per entry; never updated. Seqs are given by the
-- writers under the chain lock (`pg_advisory_xact_lock`), gapless.
CREATE TABLE audit (
    seq        BIGINT NOT NULL PRIMARY KEY,
    at         TEXT   NOT NULL,
    actor      TEXT   NOT NULL,
    action     TEXT   NOT NULL,
    handoff_id TEXT,
    data       TEXT   NOT NULL,
    prev_hash  TEXT   NOT NULL,
    hash       TEXT   NOT NULL
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

-- The durable outbox (SPEC §8), inserted with the change that causes it; `id` is the
-- `webhook-id`. `n` orders the admins' listing (newest first). `lease_ms`: claimed by a
-- node's sender until then (`claim_deliveries`); cleared when its attempt is recorded.
CREATE TABLE outbox (
    n           BIGSERIAL NOT NULL UNIQUE,
    id          TEXT    NOT NULL PRIMARY KEY,
    handoff_id  TEXT,
    event       TEXT    NOT NULL,
    channel     TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    attempts    INTEGER NOT NULL,
    next_ms     BIGINT  NOT NULL,
    created_ms  BIGINT  NOT NULL,
    updated_ms  BIGINT  NOT NULL,
    last_error  TEXT,
    lease_ms    BIGINT
);
CREATE INDEX outbox_due ON outbox (next_ms, id) WHERE state = 'pending';
CREATE INDEX outbox_state ON outbox (state, n);

-- The learning loop (SPEC §7): per task, evidence epoch and hour, what every change
-- added (`Tally`), in the same transaction as the change.
CREATE TABLE task_hours (
    task               TEXT   NOT NULL,
    epoch              BIGINT NOT NULL,
    hour               BIGINT NOT NULL,
    submitted          BIGINT NOT NULL DEFAULT 0,
    autonomous         BIGINT NOT NULL DEFAULT 0,
    alerts             BIGINT NOT NULL DEFAULT 0,
    decisions          BIGINT NOT NULL DEFAULT 0,
    unchanged          BIGINT NOT NULL DEFAULT 0,
    edited             BIGINT NOT NULL DEFAULT 0,
    rejected           BIGINT NOT NULL DEFAULT 0,
    taken_over         BIGINT NOT NULL DEFAULT 0,
    with_rationale     BIGINT NOT NULL DEFAULT 0,
    sla_met            BIGINT NOT NULL DEFAULT 0,
    escalated          BIGINT NOT NULL DEFAULT 0,
    escalated_changed  BIGINT NOT NULL DEFAULT 0,
    expired            BIGINT NOT NULL DEFAULT 0,
    edit_paths         BIGINT NOT NULL DEFAULT 0,
    edit_chars         BIGINT NOT NULL DEFAULT 0,
    executed           BIGINT NOT NULL DEFAULT 0,
    failed             BIGINT NOT NULL DEFAULT 0,
    rolled_back        BIGINT NOT NULL DEFAULT 0,
    auto_outcomes      BIGINT NOT NULL DEFAULT 0,
    auto_errors        BIGINT NOT NULL DEFAULT 0,
    checked            BIGINT NOT NULL DEFAULT 0,
    check_errors       BIGINT NOT NULL DEFAULT 0,
    revisions          BIGINT NOT NULL DEFAULT 0,
    revisions_approved BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (task, epoch, hour)
);
CREATE INDEX task_hours_hour ON task_hours (hour);

-- Histograms by day: confidence buckets, time to decision, revisions.
CREATE TABLE task_hist (
    task      TEXT   NOT NULL,
    epoch     BIGINT NOT NULL,
    day       BIGINT NOT NULL,
    histogram BIGINT NOT NULL,
    bucket    BIGINT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (task, day, epoch, histogram, bucket)
);

-- The monitor's streams: one item per handoff and stream, in the order they came; an
-- item can turn into an error, never back.
CREATE TABLE monitor_items (
    seq        BIGSERIAL NOT NULL PRIMARY KEY,
    task       TEXT    NOT NULL,
    epoch      BIGINT  NOT NULL,
    stream     TEXT    NOT NULL,
    handoff_id TEXT    NOT NULL,
    error      BOOLEAN NOT NULL,
    at_ms      BIGINT  NOT NULL
);
CREATE UNIQUE INDEX monitor_items_handoff ON monitor_items (stream, handoff_id);
CREATE INDEX monitor_items_recent ON monitor_items (task, epoch, stream, seq);

-- Task levels changed by an admin or an automatic demotion.
CREATE TABLE task_levels (
    task           TEXT    NOT NULL PRIMARY KEY,
    level          INTEGER NOT NULL,
    epoch          BIGINT  NOT NULL,
    previous_level INTEGER NOT NULL,
    restore_level  INTEGER,
    changed_ms     BIGINT  NOT NULL,
    changed_by     TEXT    NOT NULL,
    reason         TEXT    NOT NULL,
    automatic      BOOLEAN NOT NULL
);

-- Signed checkpoints of the audit chain's head (SPEC §9), written beside the writers.
CREATE TABLE checkpoints (
    id   BIGSERIAL NOT NULL PRIMARY KEY,
    seq  BIGINT NOT NULL,
    hash TEXT   NOT NULL,
    at   TEXT   NOT NULL,
    jws  TEXT   NOT NULL
);
CREATE INDEX checkpoints_seq ON checkpoints (seq);
