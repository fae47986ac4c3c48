// States are shown by an icon and a word as well as a colour: colour is never the only signal.

const ICONS = {
  pending: "○", scheduled: "◔", running: "▶", completed: "✔", skipped: "⤼", failed: "✖",
  cancelled: "⊘", waiting: "‖", paused: "‖", retrying: "↻",
};
const LABELS = { waiting: "waiting for approval", paused: "paused (waiting)" };

export function label(state) {
  return LABELS[state] || state;
}

export function Status({ state }) {
  return (
    <span class={`status status-${state}`} data-status={state}>
      <span aria-hidden="true">{ICONS[state] || "•"}</span> {label(state)}
    </span>
  );
}

export function formatDuration(ms) {
  if (ms == null || Number.isNaN(ms)) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60000);
  return `${minutes} min ${Math.round((ms % 60000) / 1000)} s`;
}

// One formatter for every cell: toLocaleString() builds a new one per call, costly on 1,000 rows.
const TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "medium" });

export function formatTime(iso) {
  return iso ? TIME.format(new Date(iso)) : "–";
}

export function usage(execution) {
  const budget = (execution.current_state && execution.current_state.__budget) || {};
  const tokens = (budget.total_input_tokens || 0) + (budget.total_output_tokens || 0);
  return { tokens, cost: budget.total_cost_usd || 0 };
}

export function Json({ value }) {
  return <pre class="json">{JSON.stringify(value, null, 2)}</pre>;
}

export function ErrorNote({ error }) {
  if (!error) return null;
  return <p role="alert" class="error">⚠ {error.message || String(error)}</p>;
}

// Keyset paging: `cursors` holds the `after` of every page seen so far, the last one is shown.
export function Pager({ cursors, setCursors, next }) {
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>
        ← Previous
      </button>
      <span>Page {cursors.length}</span>
      <button type="button" disabled={!next} onClick={() => setCursors([...cursors, next])}>Next →</button>
    </nav>
  );
}
