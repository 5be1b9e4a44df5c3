-- A handoff's record (the packet and the evaluation, `doc`) moves to a table of its own,
-- written once at submission and never updated. SQLite rewrites a whole row on UPDATE:
-- with the ~2.5 KB record in the handoffs row, every decision and outcome rewrote it and
-- its overflow page. Now a change rewrites the small row (the inbox columns and `state`).
-- `n` is an explicit INTEGER PRIMARY KEY, so VACUUM keeps it; rows are appended in
-- submission order.
CREATE TABLE handoff_docs (
    n   INTEGER PRIMARY KEY,
    doc TEXT    NOT NULL
);
INSERT INTO handoff_docs (n, doc) SELECT rowid, doc FROM handoffs ORDER BY rowid;
ALTER TABLE handoffs ADD COLUMN doc_n INTEGER NOT NULL DEFAULT 0;
UPDATE handoffs SET doc_n = rowid;
ALTER TABLE handoffs DROP COLUMN doc;

-- What every read of a whole handoff selects from: its row with its record.
CREATE VIEW handoff_records AS
    SELECT h.*, d.doc AS doc FROM handoffs h JOIN handoff_docs d ON d.n = h.doc_n;
