-- Token and cost totals per execution (the scheduler's __budget), the fold's node bookkeeping, and the
-- approvals requested of humans.

-- numeric: a sum of token counts must never be refused (that would stall the execution's fold).
ALTER TABLE executions
    ADD COLUMN input_tokens  numeric          NOT NULL DEFAULT 0,
    ADD COLUMN output_tokens numeric          NOT NULL DEFAULT 0,
    ADD COLUMN cost_usd      double precision NOT NULL DEFAULT 0,
    -- NULL: folded before this migration (or by a replica that predates it): folded again from the log.
    ADD COLUMN fold_state    jsonb;

-- Counting a tenant's active executions reads only those. (Token and fold columns stay unindexed: they
-- change with most events, and an indexed column would make every such update a non-HOT one.)
CREATE INDEX executions_active ON executions (tenant) WHERE status IN ('running', 'paused');

-- Executions to fold again from their logs (refold.py works through it at start, then it stays empty).
CREATE TABLE refolds (execution_id text PRIMARY KEY);
INSERT INTO refolds SELECT execution_id FROM executions;

CREATE TABLE approvals (
    execution_id  text        NOT NULL,
    requested_seq bigint      NOT NULL,
    tenant        text        NOT NULL,
    node_id       text        NOT NULL,
    tool_name     text        NOT NULL,
    approver      text        NOT NULL,
    context       jsonb       NOT NULL,
    requested_at  timestamptz NOT NULL,
    status        text        NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'closed')),
    user_id       text,
    comment       text,
    -- The event that decided the request, or closed it (the node settled, or the execution ended).
    decided_seq   bigint,
    decided_at    timestamptz,
    PRIMARY KEY (execution_id, requested_seq)
);

-- Listings page newest first by (requested_at, execution_id, requested_seq), one index per filter.
CREATE INDEX approvals_by_time ON approvals (requested_at DESC, execution_id DESC, requested_seq DESC);
CREATE INDEX approvals_by_execution ON approvals (execution_id, requested_at DESC, requested_seq DESC);
CREATE INDEX approvals_by_tenant ON approvals (tenant, requested_at DESC, execution_id DESC, requested_seq DESC);
CREATE INDEX approvals_by_status ON approvals (status, requested_at DESC, execution_id DESC, requested_seq DESC);
CREATE INDEX approvals_by_tenant_status
    ON approvals (tenant, status, requested_at DESC, execution_id DESC, requested_seq DESC);
