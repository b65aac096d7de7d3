-- One row that the checkpoint thread of the store rewrites right after a complete checkpoint,
-- while requests hold their writes back: that write starts the WAL file over and syncs its
-- header, on the thread, so that no request's write ever has to.
CREATE TABLE wal_restart (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    restarts INTEGER NOT NULL
);
INSERT INTO wal_restart (id, restarts) VALUES (1, 0);
