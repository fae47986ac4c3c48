-- What registration accepted but noticed (unreachable nodes, non-X.Y.Z versions, unknown retry policy
-- names), as kept in the catalog's WorkflowRecord.
ALTER TABLE workflows ADD COLUMN warnings jsonb NOT NULL DEFAULT '[]'::jsonb;
