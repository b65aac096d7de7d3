-- Settings shared by every node, such as maintenance mode.
CREATE TABLE flags (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
