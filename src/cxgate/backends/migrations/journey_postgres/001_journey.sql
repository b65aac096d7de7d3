-- Context Services: services, their states and tasks. Times are epoch milliseconds from
-- cxgate's clock. Events and attached data are JSON text, kept exactly as cxgate wrote them:
-- not jsonb, which reorders keys and rewrites numbers (attached data must come back as sent).
CREATE TABLE cs_services (
    id text PRIMARY KEY,
    tenant text NOT NULL,
    grp text NOT NULL,
    customer_id text,
    contact_key text,
    service_type text,               -- the type as text, for filters and composite starts
    started_at bigint NOT NULL,
    ended_at bigint,
    expires_at bigint NOT NULL,
    auto_complete_after bigint,      -- seconds, or NULL: never auto-completed
    complete_at bigint,              -- last activity + auto_complete_after, while active
    next_id bigint NOT NULL DEFAULT 0,  -- the last state or task id given out
    props text NOT NULL,
    started text NOT NULL,
    completed text,
    data text NOT NULL
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
    service_id text NOT NULL REFERENCES cs_services (id) ON DELETE CASCADE,
    item_id bigint NOT NULL,
    item_type text,
    ref_id bigint,                   -- previous_state_id
    started_at bigint NOT NULL,
    ended_at bigint,
    props text NOT NULL,
    started text NOT NULL,
    completed text,
    data text NOT NULL,
    PRIMARY KEY (service_id, item_id)
);

CREATE TABLE cs_tasks (
    service_id text NOT NULL REFERENCES cs_services (id) ON DELETE CASCADE,
    item_id bigint NOT NULL,
    item_type text,
    ref_id bigint,                   -- state_id
    started_at bigint NOT NULL,
    ended_at bigint,
    props text NOT NULL,
    started text NOT NULL,
    completed text,
    data text NOT NULL,
    PRIMARY KEY (service_id, item_id)
);
