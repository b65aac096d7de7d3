-- The number of keys one area may hold (`[server] max_area_keys`). Each cxgate connection
-- sets `cxgate.max_area_keys` at connect; a session without it (psql, a tool) has no limit.
--
-- A statement-level trigger, after the statement's inserts, counts the keys of each area it
-- added to and fails the statement (and with it the whole write) past the limit. The count is
-- exact under concurrency: every write of values holds its area's row lock (the UPDATE, INSERT
-- or ON CONFLICT of `areas` in the same statement or transaction), so two writers of one area
-- take turns, and the trigger's query, a fresh snapshot under READ COMMITTED, sees the keys the
-- previous writer committed. Only inserts can raise the count: an upsert of an existing key
-- is an update and does not reach this trigger.
CREATE FUNCTION area_key_limit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    key_limit integer := nullif(current_setting('cxgate.max_area_keys', true), '')::integer;
    over record;
BEGIN
    IF key_limit IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT touched.kind, touched.area_id, counted.keys INTO over
    FROM (SELECT DISTINCT kind, area_id FROM added) AS touched,
        LATERAL (SELECT count(*) AS keys FROM area_values AS v
                 WHERE v.kind = touched.kind AND v.area_id = touched.area_id) AS counted
    WHERE counted.keys > key_limit
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '% % would hold % keys (the limit is %)',
            over.kind, over.area_id, over.keys, key_limit
            USING ERRCODE = 'CXK01';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER area_key_limit AFTER INSERT ON area_values
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION area_key_limit();
