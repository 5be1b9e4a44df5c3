-- Each handoff's next deadline (reminder, escalation, expiry, re-alert), as worked out by
-- the domain from the record; NULL when nothing is ahead. The scheduler reads only this
-- index: it sleeps until the first row and is woken when an earlier one appears.
ALTER TABLE handoffs ADD COLUMN due_ms INTEGER;
-- Rows written before deadlines had a column: pending ones are due at their expiry, and
-- alerted ones re-alert a quarter of an hour after they were raised.
UPDATE handoffs SET due_ms = CASE status
    WHEN 'pending' THEN expires_ms
    WHEN 'alerted' THEN created_ms + 900000
END;
DROP INDEX handoffs_pending_expiry;
CREATE INDEX handoffs_due ON handoffs (due_ms, id) WHERE due_ms IS NOT NULL;

-- The durable outbox (SPEC §8): a delivery is inserted in the same transaction as the
-- change that causes it. Its id is the `webhook-id`, the same on every attempt, and is
-- derived from what caused it, so the same cause can never enqueue twice.
CREATE TABLE outbox (
    id          TEXT    NOT NULL PRIMARY KEY,
    handoff_id  TEXT,
    event       TEXT    NOT NULL,
    channel     TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    attempts    INTEGER NOT NULL,
    next_ms     INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    last_error  TEXT
);
-- The sender's queue: pending deliveries by their next attempt.
CREATE INDEX outbox_due ON outbox (next_ms, id) WHERE state = 'pending';
-- The admins' view: by state, newest (highest rowid) first.
CREATE INDEX outbox_state ON outbox (state);
