-- Context Services: services, their states and tasks. Times are epoch milliseconds from
-- cxgate's clock. Events and attached data are JSON text, kept exactly as cxgate wrote them.
-- No semicolons in comments: migrations are split on them.
CREATE TABLE cs_services (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    grp TEXT NOT NULL,
    customer_id TEXT,
    contact_key TEXT,
    service_type TEXT,               -- the type as text, for filters and composite starts
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    expires_at INTEGER NOT NULL,
    auto_complete_after INTEGER,     -- seconds, or NULL: never auto-completed
    complete_at INTEGER,             -- last activity + auto_complete_after, while active
    next_id INTEGER NOT NULL DEFAULT 0,  -- the last state or task id given out
    props TEXT NOT NULL,
    started TEXT NOT NULL,
    completed TEXT,
    data TEXT NOT NULL
);
-- The query paths: a customer's services and a contact key's anonymous ones, newest first,
-- and a space's services by start time (export, purge).
CREATE INDEX cs_services_customer
    ON cs_services (tenant, grp, customer_id, started_at, id) WHERE customer_id IS NOT NULL;
CREATE INDEX cs_services_anonymous
    ON cs_services (tenant, grp, contact_key, started_at, id) WHERE customer_id IS NULL;
CREATE INDEX cs_services_started ON cs_services (tenant, grp, started_at, id);
CREATE INDEX cs_services_expires ON cs_services (expires_at);
CREATE INDEX cs_services_idle ON cs_services (complete_at) WHERE complete_at IS NOT NULL;

CREATE TABLE cs_states (
    service_id TEXT NOT NULL REFERENCES cs_services (id) ON DELETE CASCADE,
    item_id INTEGER NOT NULL,
    item_type TEXT,
    ref_id INTEGER,                  -- previous_state_id
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    props TEXT NOT NULL,
    started TEXT NOT NULL,
    completed TEXT,
    data TEXT NOT NULL,
    PRIMARY KEY (service_id, item_id)
) WITHOUT ROWID;

CREATE TABLE cs_tasks (
    service_id TEXT NOT NULL REFERENCES cs_services (id) ON DELETE CASCADE,
    item_id INTEGER NOT NULL,
    item_type TEXT,
    ref_id INTEGER,                  -- state_id
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    props TEXT NOT NULL,
    started TEXT NOT NULL,
    completed TEXT,
    data TEXT NOT NULL,
    PRIMARY KEY (service_id, item_id)
) WITHOUT ROWID;
