-- Pending handoffs by expiry time (covering: the scheduler reads only this index).
CREATE INDEX handoffs_pending_expiry ON handoffs (expires_ms, id) WHERE status = 'pending';
