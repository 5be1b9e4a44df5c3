-- The learning loop (SPEC §7). Every change of a handoff adds what it means for the
-- statistics (`Tally` in the domain) to its task's row for the hour, in the same
-- transaction: `GET /v1/stats` sums at most a window's hours per task, never handoffs.
-- `epoch` is the task's evidence epoch when the handoff was judged (it grows at every level
-- change, and evidence counts only the current one's). Handoffs stored before this
-- migration are not counted.
CREATE TABLE task_hours (
    task              TEXT    NOT NULL,
    epoch             INTEGER NOT NULL,
    hour              INTEGER NOT NULL,
    submitted         INTEGER NOT NULL DEFAULT 0,
    autonomous        INTEGER NOT NULL DEFAULT 0,
    alerts            INTEGER NOT NULL DEFAULT 0,
    decisions         INTEGER NOT NULL DEFAULT 0,
    unchanged         INTEGER NOT NULL DEFAULT 0,
    edited            INTEGER NOT NULL DEFAULT 0,
    rejected          INTEGER NOT NULL DEFAULT 0,
    taken_over        INTEGER NOT NULL DEFAULT 0,
    with_rationale    INTEGER NOT NULL DEFAULT 0,
    sla_met           INTEGER NOT NULL DEFAULT 0,
    escalated         INTEGER NOT NULL DEFAULT 0,
    escalated_changed INTEGER NOT NULL DEFAULT 0,
    expired           INTEGER NOT NULL DEFAULT 0,
    edit_paths        INTEGER NOT NULL DEFAULT 0,
    edit_chars        INTEGER NOT NULL DEFAULT 0,
    executed          INTEGER NOT NULL DEFAULT 0,
    failed            INTEGER NOT NULL DEFAULT 0,
    rolled_back       INTEGER NOT NULL DEFAULT 0,
    auto_outcomes     INTEGER NOT NULL DEFAULT 0,
    auto_errors       INTEGER NOT NULL DEFAULT 0,
    checked           INTEGER NOT NULL DEFAULT 0,
    check_errors      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (task, epoch, hour)
) WITHOUT ROWID;
CREATE INDEX task_hours_hour ON task_hours (hour);

-- Histograms by day: confidence buckets (decisions, unchanged) and time to decision.
CREATE TABLE task_hist (
    task      TEXT    NOT NULL,
    epoch     INTEGER NOT NULL,
    day       INTEGER NOT NULL,
    histogram INTEGER NOT NULL,
    bucket    INTEGER NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (task, day, epoch, histogram, bucket)
) WITHOUT ROWID;

-- The monitor's streams: one item per handoff and stream, in the order they first came;
-- an item can turn into an error (a failed outcome after a `fine` verdict), never back.
CREATE TABLE monitor_items (
    seq        INTEGER NOT NULL PRIMARY KEY,
    task       TEXT    NOT NULL,
    epoch      INTEGER NOT NULL,
    stream     TEXT    NOT NULL,
    handoff_id TEXT    NOT NULL,
    error      INTEGER NOT NULL,
    at_ms      INTEGER NOT NULL
);
CREATE UNIQUE INDEX monitor_items_handoff ON monitor_items (stream, handoff_id);
CREATE INDEX monitor_items_recent ON monitor_items (task, epoch, stream, seq);

-- Task levels changed by an admin or by an automatic demotion; the file's level otherwise.
CREATE TABLE task_levels (
    task           TEXT    NOT NULL PRIMARY KEY,
    level          INTEGER NOT NULL,
    epoch          INTEGER NOT NULL,
    previous_level INTEGER NOT NULL,
    restore_level  INTEGER,
    changed_ms     INTEGER NOT NULL,
    changed_by     TEXT    NOT NULL,
    reason         TEXT    NOT NULL,
    automatic      INTEGER NOT NULL
);

-- The spot-check queue: sampled handoffs waiting for a verdict, by team, oldest first.
ALTER TABLE handoffs ADD COLUMN spot_due INTEGER;
CREATE INDEX handoffs_spot ON handoffs (assigned_team, id) WHERE spot_due IS NOT NULL;
