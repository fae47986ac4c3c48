-- The event log, the per-execution projection folded from it, and the workflow catalog.

CREATE TABLE events (
    execution_id text        NOT NULL,
    sequence     bigint      NOT NULL CHECK (sequence >= 1),
    event_id     uuid        NOT NULL,
    tenant       text        NOT NULL,
    kind_type    text        NOT NULL,
    kind         jsonb       NOT NULL,
    created_at   timestamptz NOT NULL,
    stream_seq   bigint      NOT NULL,
    PRIMARY KEY (execution_id, sequence)
);

CREATE TABLE executions (
    execution_id     text        PRIMARY KEY,
    tenant           text        NOT NULL,
    workflow_id      text        NOT NULL,
    workflow_version text        NOT NULL,
    status           text        NOT NULL CHECK (status IN (
        'pending', 'running', 'paused', 'completed', 'failed', 'cancelled', 'limit_exceeded'
    )),
    initial_input    jsonb       NOT NULL,
    current_state    jsonb       NOT NULL,
    last_sequence    bigint      NOT NULL,
    error            text,
    started_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    completed_at     timestamptz
);

-- Listing pages newest first by (started_at, execution_id): started_at never changes, so a keyset
-- cursor stays stable while executions progress. One index per filter keeps every page an index scan.
CREATE INDEX executions_by_start ON executions (started_at DESC, execution_id DESC);
CREATE INDEX executions_by_tenant ON executions (tenant, started_at DESC, execution_id DESC);
CREATE INDEX executions_by_status ON executions (status, started_at DESC, execution_id DESC);
CREATE INDEX executions_by_workflow ON executions (workflow_id, started_at DESC, execution_id DESC);

CREATE TABLE workflows (
    tenant        text        NOT NULL,
    workflow_id   text        NOT NULL,
    version       text        NOT NULL,
    ir            jsonb       NOT NULL,
    registered_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, workflow_id, version)
);
