-- A handoff's record is written whole once, when it is created (`doc`). Every later
-- change writes only what changes (`state`: the lifecycle, the receipt, the timers, the
-- spot check, the moving SLA due time), laid over `doc` when the row is read. Rows
-- written before this migration have no `state` until they next change.
ALTER TABLE handoffs ADD COLUMN state TEXT;
