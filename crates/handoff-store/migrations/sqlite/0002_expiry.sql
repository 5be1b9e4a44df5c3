-- Pending handoffs by expiry time: the scheduler sleeps until the first of these.
CREATE INDEX handoffs_pending_expiry ON handoffs (expires_ms) WHERE status = 'pending';
