import { useCallback, useEffect, useState } from "preact/hooks";
import { api, query } from "../api.js";
import { useLiveReload } from "../live.js";
import { ErrorNote, Status, formatDuration, formatTime, usage } from "../status.jsx";

const STATUSES = ["", "running", "paused", "completed", "failed", "cancelled"];
const SIZES = [50, 100, 1000];

export function Executions() {
  const [filters, setFilters] = useState({ status: "", workflow_id: "", limit: 50 });
  const [cursors, setCursors] = useState([null]); // the `after` of each page seen so far
  const [page, setPage] = useState({ executions: [], next: null });
  const [error, setError] = useState(null);
  const after = cursors[cursors.length - 1];

  const load = useCallback(async () => {
    try {
      setPage(await api(`/executions${query({ ...filters, after })}`));
      setError(null);
    } catch (err) {
      setError(err);
    }
  }, [filters, after]);
  useEffect(() => void load(), [load]);
  useLiveReload(load, filters.limit > 100 ? 1000 : 500);

  const change = (name) => (e) => {
    setFilters({ ...filters, [name]: name === "limit" ? Number(e.currentTarget.value) : e.currentTarget.value });
    setCursors([null]);
  };
  return (
    <section aria-labelledby="executions-title">
      <h1 id="executions-title">Executions</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>Status
          <select value={filters.status} onChange={change("status")}>
            {STATUSES.map((s) => <option value={s}>{s || "any"}</option>)}
          </select>
        </label>
        <label>Workflow
          <input type="search" value={filters.workflow_id} onChange={change("workflow_id")} placeholder="workflow id" />
        </label>
        <label>Per page
          <select value={filters.limit} onChange={change("limit")}>
            {SIZES.map((n) => <option value={n}>{n}</option>)}
          </select>
        </label>
      </form>
      <ErrorNote error={error} />
      <table class="grid" aria-label="Executions">
        <thead>
          <tr>
            <th scope="col">Execution</th><th scope="col">Workflow</th><th scope="col">Tenant</th>
            <th scope="col">Status</th><th scope="col">Started</th><th scope="col">Duration</th>
            <th scope="col">Tokens</th><th scope="col">Cost</th>
          </tr>
        </thead>
        <tbody>{page.executions.map((e) => <Row key={e.execution_id} execution={e} />)}</tbody>
      </table>
      {page.executions.length === 0 && !error && <p>No executions.</p>}
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>
          ← Previous
        </button>
        <span>Page {cursors.length}</span>
        <button type="button" disabled={!page.next} onClick={() => setCursors([...cursors, page.next])}>
          Next →
        </button>
      </nav>
    </section>
  );
}

function Row({ execution: e }) {
  const end = e.completed_at ? Date.parse(e.completed_at) : Date.now();
  const { tokens, cost } = usage(e);
  return (
    <tr data-execution={e.execution_id} data-status={e.status}>
      <td><a href={`#/executions/${encodeURIComponent(e.execution_id)}`}>{e.execution_id}</a></td>
      <td>{e.workflow_id} <small>v{e.workflow_version}</small></td>
      <td>{e.tenant}</td>
      <td><Status state={e.status} /></td>
      <td>{formatTime(e.started_at)}</td>
      <td>{formatDuration(end - Date.parse(e.started_at))}</td>
      <td class="num">{tokens}</td>
      <td class="num">${cost.toFixed(4)}</td>
    </tr>
  );
}
