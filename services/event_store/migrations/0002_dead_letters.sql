-- Dead letters kept by the JAMJET_DLQ stream: work items out of attempts, and undecodable messages.

CREATE TABLE dead_letters (
    id           bigserial   PRIMARY KEY,
    kind         text        NOT NULL CHECK (kind IN ('work', 'decode')),
    tenant       text,
    execution_id text,
    node_id      text,
    dispatch     bigint,
    queue_type   text,
    attempts     bigint,
    last_error   text,
    payload      jsonb       NOT NULL,
    created_at   timestamptz NOT NULL,
    -- The record's JAMJET_DLQ sequence: a redelivery or a replay of the stream inserts nothing new.
    stream_seq   bigint      NOT NULL UNIQUE
);

-- Listings page newest first by stream_seq (the unique index serves the unfiltered one backwards).
CREATE INDEX dead_letters_by_execution ON dead_letters (execution_id, stream_seq DESC);
CREATE INDEX dead_letters_by_tenant ON dead_letters (tenant, stream_seq DESC);
CREATE INDEX dead_letters_by_kind ON dead_letters (kind, stream_seq DESC);
