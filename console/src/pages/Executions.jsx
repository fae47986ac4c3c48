import { Component } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { api, query } from "../api.js";
import { useLiveReload } from "../live.js";
import { ErrorNote, Pager, Status, formatDuration, formatTime, usage } from "../status.jsx";

const STATUSES = ["", "running", "paused", "completed", "failed", "cancelled"];
const SIZES = [50, 100, 1000];

// The filters live in the URL (#/executions?status=failed&limit=100): a link or Back keeps them.
function filtersFromUrl() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const limit = Number(params.get("limit"));
  return {
    status: STATUSES.includes(params.get("status")) ? params.get("status") : "",
    workflow_id: params.get("workflow_id") || "",
    limit: SIZES.includes(limit) ? limit : 50,
  };
}

export function Executions() {
  const [filters, setFilters] = useState(filtersFromUrl);
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
  useLiveReload(load, filters.limit > 100 ? 2000 : 500);

  const change = (name) => (e) => {
    const value = e.currentTarget.value;
    const next = { ...filters, [name]: name === "limit" ? Number(value) : value };
    setFilters(next);
    setCursors([null]);
    history.replaceState(null, "", `#/executions${query(next)}`);
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
          <select value={filters.limit} onChange={change("limit")} data-page-size>
            {SIZES.map((n) => <option value={n}>{n}</option>)}
          </select>
        </label>
      </form>
      <ErrorNote error={error} />
      <table class="grid executions" aria-label="Executions">
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
      <Pager cursors={cursors} setCursors={setCursors} next={page.next} />
    </section>
  );
}

// A reload brings 1,000 new objects; only the rows whose execution moved (or is still running, for its
// duration) are rendered again.
class Row extends Component {
  shouldComponentUpdate({ execution: next }) {
    const old = this.props.execution;
    return next.last_sequence !== old.last_sequence || next.status !== old.status || !next.completed_at;
  }

  render({ execution }) {
    return <RowCells execution={execution} />;
  }
}

function RowCells({ execution: e }) {
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
