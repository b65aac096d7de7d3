-- Settings shared by every node, such as maintenance mode.
CREATE TABLE flags (
    name text PRIMARY KEY,
    value text NOT NULL
);
