// What an execution's events say, folded in log order: node states, attempts for the timeline,
// the state after each node, and the notable events (errors, policy, budget).

const NOTABLE = new Set([
  "node_failed", "workflow_failed", "policy_violation", "token_budget_exceeded", "cost_budget_exceeded",
  "budget_exceeded", "autonomy_limit_reached", "circuit_breaker_tripped", "escalation_required",
  "workflow_cancelled", "node_cancelled",
]);

export function emptyFold(initialInput) {
  return { states: {}, attempts: [], open: {}, snapshots: [], notable: [], retries: [], errors: [], state: initialInput || {}, final: undefined, end: null };
}

export function fold(acc, event) {
  const kind = event.kind;
  const node = kind.node_id;
  const at = Date.parse(event.created_at);
  const step = HANDLERS[kind.type];
  if (step) step(acc, kind, node, at, event);
  if (NOTABLE.has(kind.type)) acc.notable.push(event);
  return acc;
}

function close(acc, node, at, outcome) {
  const attempt = acc.open[node];
  if (!attempt) return;
  attempt.end = at;
  attempt.outcome = outcome;
  delete acc.open[node];
}

function finish(acc, at, status) {
  for (const node of Object.keys(acc.open)) close(acc, node, at, "unfinished");
  acc.end = at;
  acc.status = status;
}

const HANDLERS = {
  workflow_started: (acc, kind, node, at) => {
    acc.begin = at;
    acc.state = kind.initial_input || acc.state;
  },
  node_scheduled: (acc, kind, node) => (acc.states[node] = "scheduled"),
  node_started: (acc, kind, node, at) => {
    // A second start while the first never ended: its lease expired and the item was redelivered.
    close(acc, node, at, "lease expired");
    const attempt = { node, attempt: kind.attempt, worker: kind.worker_id, start: at, end: null, outcome: "running" };
    acc.attempts.push(attempt);
    acc.open[node] = attempt;
    acc.states[node] = "running";
  },
  node_completed: (acc, kind, node, at, event) => {
    close(acc, node, at, "completed");
    acc.states[node] = "completed";
    acc.state = merge(acc.state, kind.state_patch);
    acc.snapshots.push({ node, sequence: event.sequence, state: acc.state });
  },
  node_failed: (acc, kind, node, at) => {
    close(acc, node, at, kind.retryable ? "failed, will retry" : "failed");
    if (!kind.retryable) acc.errors.push(`${node}: ${kind.error}`);
    acc.states[node] = "failed";
  },
  retry_scheduled: (acc, kind, node, at) => {
    acc.retries.push({ node, attempt: kind.attempt, at, delay: kind.delay_ms });
    acc.states[node] = "scheduled";
  },
  node_parked: (acc, kind, node, at) => {
    close(acc, node, at, "parked");
    acc.states[node] = "scheduled";
  },
  node_skipped: (acc, kind, node) => (acc.states[node] = "skipped"),
  node_cancelled: (acc, kind, node, at) => {
    close(acc, node, at, "cancelled");
    acc.states[node] = "cancelled";
  },
  tool_approval_required: (acc, kind, node, at) => {
    close(acc, node, at, "held for approval");
    acc.states[node] = "waiting";
  },
  approval_received: (acc, kind, node) => {
    if (acc.states[node] === "waiting") acc.states[node] = kind.decision === "approved" ? "scheduled" : "failed";
  },
  workflow_completed: (acc, kind, node, at) => {
    acc.final = kind.final_state;
    finish(acc, at, "completed");
  },
  workflow_failed: (acc, kind, node, at) => {
    acc.errors.unshift(kind.error);
    finish(acc, at, "failed");
  },
  workflow_cancelled: (acc, kind, node, at) => finish(acc, at, "cancelled"),
};

// RFC 7396 JSON merge patch: null deletes, objects merge, anything else replaces.
export function merge(target, patch) {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch === undefined || patch === null ? target : patch;
  const out = target && typeof target === "object" && !Array.isArray(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = merge(out[key], value);
  }
  return out;
}
