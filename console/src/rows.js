// The executions page's rows, patched from the live stream (services/gateway/live.py) instead of
// re-reading the whole page: each entry names an execution and its newest event's sequence, and, when
// its status changed (it started, ended, paused, resumed), carries the stored row.

// Newest first, as the store pages them (keyset on started_at, execution_id).
function newer(a, b) {
  const at = Date.parse(a.started_at) - Date.parse(b.started_at);
  return at !== 0 ? at > 0 : a.execution_id > b.execution_id;
}

function matches(execution, filters) {
  return (!filters.status || execution.status === filters.status)
    && (!filters.workflow_id || execution.workflow_id === filters.workflow_id);
}

// The row an entry leaves on the page: the stored one if at least as new, else the old one with the
// newer sequence (so it re-renders its running duration), or the old one unchanged.
function patched(row, entry) {
  const stored = entry.execution;
  if (stored && stored.last_sequence >= row.last_sequence) return stored;
  if (entry.sequence > row.last_sequence) return { ...row, last_sequence: entry.sequence };
  return row;
}

// Whether an execution not on the page belongs on it: only the first page takes new rows, and only
// those that sort before its last row (or anywhere, when the page is all there is).
function belongs(execution, rows, page) {
  if (!page.first || !matches(execution, page.filters)) return false;
  return !page.next || rows.length === 0 || newer(execution, rows[rows.length - 1]);
}

// An entry whose row the store could not give (or gave before it folded the event): re-read the page.
export function stale(entry) {
  return "execution" in entry && (!entry.execution || entry.execution.last_sequence < entry.sequence);
}

// The page after `entries`: { rows, changed }. `page` is { filters, first, next }.
export function applyEntries(rows, entries, page) {
  const at = new Map(rows.map((r, i) => [r.execution_id, i]));
  const next = rows.slice();
  const added = [];
  let changed = false;
  for (const entry of entries) {
    const i = at.get(entry.execution_id);
    if (i === undefined) {
      if (entry.execution && belongs(entry.execution, rows, page)) added.push(entry.execution);
      continue;
    }
    const row = patched(next[i], entry);
    if (row === next[i]) continue;
    next[i] = matches(row, page.filters) ? row : null; // left the filter: off the page
    changed = true;
  }
  if (!changed && !added.length) return { rows, changed: false };
  const kept = next.filter(Boolean).concat(added);
  if (added.length) kept.sort((a, b) => (newer(a, b) ? -1 : 1));
  return { rows: kept, changed: true };
}

// Merges an entry into the one already waiting for the next frame: the newest sequence, and the
// stored row if either carries one (a null one says the store could not give it).
export function merge(waiting, entry) {
  if (!waiting) return entry;
  const merged = { ...waiting, ...entry, sequence: Math.max(waiting.sequence, entry.sequence) };
  if (!("execution" in entry) && "execution" in waiting) merged.execution = waiting.execution;
  return merged;
}

// A re-read page, keeping the rows the stream has already brought further than the read did (a read in
// flight while an execution ended would otherwise bring its "running" row back).
export function fresher(read, shown, filters) {
  const seen = new Map(shown.map((r) => [r.execution_id, r]));
  const newest = read.map((row) => {
    const known = seen.get(row.execution_id);
    return known && known.last_sequence > row.last_sequence ? known : row;
  });
  return newest.filter((row) => matches(row, filters));
}
