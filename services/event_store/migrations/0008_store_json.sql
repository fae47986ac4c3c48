-- jamjet_store_write and jamjet_store_read again, taking each part of the batch as its own json
-- parameter and answering with json built as text. A jsonb argument is parsed into a tree with its
-- object keys sorted, and to_jsonb builds one per row before the answer is written out again: sorting,
-- the tree and escaping were the largest items of the store's Postgres backend under W2 (perf). json
-- is read once, lexically, by json_to_recordset, and json_agg / row_to_json write text directly. The
-- answers have the same shape (msgspec reads both). The jsonb versions stay for replicas that predate
-- this migration: their statements cast to jsonb and so call those.
--
-- The changed rows are updated by one statement joined to the batch, not one statement each (a
-- statement's start costs the backend about as much as its row: 1.0 against 0.48 ms of CPU for 40 rows).
-- The function plans with scans and hash or merge joins turned off, so that each row is a probe of the
-- primary key whatever the statistics say: a join planned on the tables' sizes could scan executions.
CREATE OR REPLACE FUNCTION jamjet_store_write(
    events json, inserted json, updated json, created json, resolved json
) RETURNS void
LANGUAGE plpgsql
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
DECLARE
    r record;
BEGIN
    INSERT INTO events (execution_id, sequence, event_id, tenant, kind_type, kind, created_at, stream_seq)
    SELECT e.execution_id, e.sequence, e.event_id, e.tenant, e.kind_type, e.kind::jsonb, e.created_at, e.stream_seq
    FROM json_to_recordset(events) AS e(
        execution_id text, sequence bigint, event_id uuid, tenant text, kind_type text, kind text,
        created_at timestamptz, stream_seq bigint
    );

    INSERT INTO executions (execution_id, tenant, workflow_id, workflow_version, status, initial_input,
                            current_state, last_sequence, error, started_at, updated_at, completed_at,
                            input_tokens, output_tokens, cost_usd, fold_state)
    SELECT n.execution_id, n.tenant, n.workflow_id, n.workflow_version, n.status, n.initial_input::jsonb,
           n.current_state::jsonb, n.last_sequence, n.error, n.started_at, n.updated_at, n.completed_at,
           n.input_tokens, n.output_tokens, n.cost_usd, n.fold_state::jsonb
    FROM json_to_recordset(inserted) AS n(
        execution_id text, tenant text, workflow_id text, workflow_version text, status text,
        initial_input text, current_state text, last_sequence bigint, error text, started_at timestamptz,
        updated_at timestamptz, completed_at timestamptz, input_tokens numeric, output_tokens numeric,
        cost_usd float8, fold_state text
    );

    -- current_state and fold_state come only when they changed: NULL keeps the stored one. The batch
    -- holds one change per execution.
    UPDATE executions AS x
    SET status = u.status, current_state = COALESCE(u.current_state::jsonb, x.current_state),
        last_sequence = u.last_sequence, error = u.error, updated_at = u.updated_at,
        completed_at = u.completed_at, input_tokens = u.input_tokens, output_tokens = u.output_tokens,
        cost_usd = u.cost_usd, fold_state = COALESCE(u.fold_state::jsonb, x.fold_state)
    FROM json_to_recordset(updated) AS u(
        execution_id text, status text, current_state text, last_sequence bigint, error text,
        updated_at timestamptz, completed_at timestamptz, input_tokens numeric, output_tokens numeric,
        cost_usd float8, fold_state text
    )
    WHERE x.execution_id = u.execution_id;

    INSERT INTO approvals (execution_id, requested_seq, tenant, node_id, tool_name, approver, context,
                           requested_at, status, user_id, comment, decided_seq, decided_at)
    SELECT a.execution_id, a.requested_seq, a.tenant, a.node_id, a.tool_name, a.approver, a.context::jsonb,
           a.requested_at, a.status, a.user_id, a.comment, a.decided_seq, a.decided_at
    FROM json_to_recordset(created) AS a(
        execution_id text, requested_seq bigint, tenant text, node_id text, tool_name text, approver text,
        context text, requested_at timestamptz, status text, user_id text, comment text, decided_seq bigint,
        decided_at timestamptz
    )
    ON CONFLICT (execution_id, requested_seq) DO NOTHING;

    -- Only a pending request changes: the first decision wins, and a replayed one finds nothing to do.
    FOR r IN
        SELECT * FROM json_to_recordset(resolved) AS d(
            execution_id text, requested_seq bigint, status text, user_id text, comment text,
            decided_seq bigint, decided_at timestamptz
        )
    LOOP
        UPDATE approvals
        SET status = r.status, user_id = r.user_id, comment = r.comment, decided_seq = r.decided_seq,
            decided_at = r.decided_at
        WHERE execution_id = r.execution_id AND requested_seq = r.requested_seq AND status = 'pending';
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION jamjet_store_read(ids json, keys json, catch_up integer) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    stored json;
    found json;
    unfolded json;
BEGIN
    SELECT COALESCE(json_agg(json_build_array(k.execution_id, k.sequence, e.stream_seq)), '[]')
    INTO stored
    FROM json_to_recordset(keys) AS k(execution_id text, sequence bigint)
    CROSS JOIN LATERAL (
        SELECT stream_seq FROM events
        WHERE events.execution_id = k.execution_id AND events.sequence = k.sequence
        LIMIT 1
    ) AS e;

    SELECT COALESCE(json_agg(row_to_json(x) ORDER BY k.n), '[]')
    INTO found
    FROM json_array_elements_text(ids) WITH ORDINALITY AS k(execution_id, n)
    CROSS JOIN LATERAL (
        SELECT execution_id, tenant, workflow_id, workflow_version, status, initial_input, current_state,
               last_sequence, error, started_at, updated_at, completed_at, input_tokens, output_tokens,
               cost_usd, fold_state
        FROM executions WHERE executions.execution_id = k.execution_id
        FOR UPDATE
    ) AS x;

    SELECT COALESCE(
        json_agg(json_build_array(e.execution_id, e.sequence, e.tenant, e.created_at, e.kind)), '[]'
    )
    INTO unfolded
    FROM json_array_elements_text(ids) AS k(execution_id)
    CROSS JOIN LATERAL (
        SELECT COALESCE(
            (SELECT last_sequence FROM executions WHERE executions.execution_id = k.execution_id), 0
        ) AS after
    ) AS w
    CROSS JOIN LATERAL (
        SELECT * FROM events
        WHERE events.execution_id = k.execution_id AND events.sequence > w.after
        ORDER BY events.sequence
        LIMIT catch_up
    ) AS e;

    RETURN json_build_object('stored', stored, 'rows', found, 'unfolded', unfolded)::text;
END
$$;
