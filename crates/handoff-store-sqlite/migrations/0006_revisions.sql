-- Revisions (SPEC §2 `supersedes`): the learning loop counts revisions submitted and the
-- approvals of revisions ("approved after N revisions"; the per-N breakdown is histogram 3
-- of `task_hist`, which needs no column). Hours stored before this migration count 0.
ALTER TABLE task_hours ADD COLUMN revisions INTEGER NOT NULL DEFAULT 0;
ALTER TABLE task_hours ADD COLUMN revisions_approved INTEGER NOT NULL DEFAULT 0;
