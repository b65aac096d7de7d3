-- How many keys each area holds, for `[server] max_area_keys`. Every statement that adds or
-- removes values also moves this count, by the rows it actually inserted or deleted; the count
-- is an upsert, which works on the latest committed row (never a stale snapshot), so two
-- writers of one area cannot both slip under the limit. `key_limit` is the limit the last
-- writer was configured with (NULL: none); past it the CHECK fails the whole statement, and
-- with it the write.
CREATE TABLE area_key_counts (
    kind text NOT NULL,
    area_id text NOT NULL,
    keys integer NOT NULL,
    key_limit integer,
    PRIMARY KEY (kind, area_id),
    FOREIGN KEY (kind, area_id) REFERENCES areas (kind, id) ON DELETE CASCADE,
    CONSTRAINT area_key_limit CHECK (keys <= key_limit)
);
INSERT INTO area_key_counts (kind, area_id, keys)
    SELECT kind, area_id, count(*) FROM area_values GROUP BY kind, area_id;
