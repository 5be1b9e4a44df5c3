-- Signed checkpoints of the audit chain's head (SPEC §9): the head's seq and hash, when it
-- was signed, and the compact JWS. Several may sign the same seq (a checkpoint on demand,
-- another at shutdown, nothing written between). `id` orders them, newest last, and is the
-- listing's cursor. Written beside the writer, each in its own short transaction.
CREATE TABLE checkpoints (
    id   INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    seq  INTEGER NOT NULL,
    hash TEXT    NOT NULL,
    at   TEXT    NOT NULL,
    jws  TEXT    NOT NULL
);
CREATE INDEX checkpoints_seq ON checkpoints (seq);
