-- What a batch's write reads, in one statement: for each of its messages, the stored event at its
-- sequence and the one before (the chain check); the executions' rows, locked, in the order given (every
-- replica sends them sorted); and the stored events past each row that are not folded yet (written by a
-- batch that could not fold them). Each lookup is a lateral key probe, an index probe whatever the
-- statistics say (tests/event_store/test_store_plans.py). The answer is one JSON document.
CREATE OR REPLACE FUNCTION jamjet_store_read(request jsonb, catch_up integer) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    stored jsonb;
    found jsonb;
    unfolded jsonb;
BEGIN
    SELECT COALESCE(jsonb_agg(jsonb_build_array(k.execution_id, k.sequence, e.stream_seq)), '[]')
    INTO stored
    FROM jsonb_to_recordset(request->'keys') AS k(execution_id text, sequence bigint)
    CROSS JOIN LATERAL (
        SELECT stream_seq FROM events
        WHERE events.execution_id = k.execution_id AND events.sequence = k.sequence
        LIMIT 1
    ) AS e;

    SELECT COALESCE(jsonb_agg(to_jsonb(x) ORDER BY k.n), '[]')
    INTO found
    FROM jsonb_array_elements_text(request->'ids') WITH ORDINALITY AS k(execution_id, n)
    CROSS JOIN LATERAL (
        SELECT execution_id, tenant, workflow_id, workflow_version, status, initial_input, current_state,
               last_sequence, error, started_at, updated_at, completed_at, input_tokens, output_tokens,
               cost_usd, fold_state
        FROM executions WHERE executions.execution_id = k.execution_id
        FOR UPDATE
    ) AS x;

    SELECT COALESCE(
        jsonb_agg(jsonb_build_array(e.execution_id, e.sequence, e.tenant, e.created_at, e.kind)), '[]'
    )
    INTO unfolded
    FROM jsonb_array_elements_text(request->'ids') AS k(execution_id)
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

    RETURN jsonb_build_object('stored', stored, 'rows', found, 'unfolded', unfolded)::text;
END
$$;
