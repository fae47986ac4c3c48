import { Component } from "preact";
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { api, query } from "../api.js";
import { useLiveRows } from "../live.js";
import { applyEntries, fresher, stale } from "../rows.js";
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

// Rows re-read from the store at most this often while executions keep changing: the stream patches
// status, end and sequence at once, the re-read catches what it does not carry (tokens and cost of a
// running execution).
const REREAD_MS = 10000;

export function Executions() {
  const [filters, setFilters] = useState(filtersFromUrl);
  const [cursors, setCursors] = useState([null]); // the `after` of each page seen so far
  const { page, error } = useLivePage(filters, cursors);

  // From the filters as they are by then: two changes in one tick (a field's change on blur, then the
  // select's) must not undo each other. The URL is written here, on a person's change, never by an
  // effect: one that ran late would undo a navigation away from the list.
  const change = (name) => (e) => {
    const value = e.currentTarget.value;
    setFilters((f) => {
      const next = { ...f, [name]: name === "limit" ? Number(value) : value };
      history.replaceState(null, "", `#/executions${query(next)}`);
      return next;
    });
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
          <select value={filters.limit} onChange={change("limit")} data-page-size>
            {SIZES.map((n) => <option value={n}>{n}</option>)}
          </select>
        </label>
      </form>
      <ErrorNote error={error} />
      <Rows executions={page.executions} />
      {page.executions.length === 0 && !error && <p>No executions.</p>}
      <Pager cursors={cursors} setCursors={setCursors} next={page.next} />
    </section>
  );
}

// The page of executions the filters and cursors name: read once, then patched from the live stream.
function useLivePage(filters, cursors) {
  const [page, setPage] = useState({ executions: [], next: null });
  const [error, setError] = useState(null);
  const after = cursors[cursors.length - 1];
  const loadedAt = useRef(0);
  const reads = useRef(0);
  const load = useCallback(async () => {
    const mine = ++reads.current;
    try {
      loadedAt.current = Date.now();
      const read = await api(`/executions${query({ ...filters, after })}`);
      if (mine !== reads.current) return; // a later read (other filters, perhaps) was asked for
      setPage((p) => ({ ...read, executions: fresher(read.executions, p.executions, filters) }));
      setError(null);
    } catch (err) {
      if (mine === reads.current) setError(err);
    }
  }, [filters, after]);
  useEffect(() => void load(), [load]);
  const onEntries = (entries) => {
    const first = cursors.length === 1;
    setPage((p) => {
      const { rows, changed } = applyEntries(p.executions, entries, { filters, first, next: p.next });
      return changed ? { ...p, executions: rows } : p;
    });
    return entries.some(stale) || Date.now() - loadedAt.current > REREAD_MS;
  };
  useLiveRows(onEntries, load, 1000);
  return { page, error };
}

// Only the rows in view (and OVERSCAN either side) are in the document; rows above and below are one
// spacer row each of their height, so the page scrolls as if all were there. A screen reader learns
// the full count from aria-rowcount, and each row its place from aria-rowindex. Tabbing from the last
// drawn link scrolls it into view, which draws the rows after it.
const OVERSCAN = 10;

function Rows({ executions }) {
  const body = useRef(null);
  const [first, last, rowPx] = useInView(body, executions.length);
  return (
    <table class="grid executions" aria-label="Executions" aria-rowcount={executions.length + 1}
      data-rows={executions.length}>
      <thead>
        <tr aria-rowindex={1}>
          <th scope="col">Execution</th><th scope="col">Workflow</th><th scope="col">Tenant</th>
          <th scope="col">Status</th><th scope="col">Started</th><th scope="col">Duration</th>
          <th scope="col">Tokens</th><th scope="col">Cost</th>
        </tr>
      </thead>
      <tbody ref={body}>
        <Spacer key="above" px={first * rowPx} />
        {executions.slice(first, last).map((e, i) => <Row key={e.execution_id} execution={e} index={first + i} />)}
        <Spacer key="below" px={(executions.length - last) * rowPx} />
      </tbody>
    </table>
  );
}

// Always there (0 px high when nothing is above or below), so the drawn rows keep their places.
function Spacer({ px }) {
  return <tr class="spacer" aria-hidden="true" style={{ height: `${px}px` }}><td colSpan={8} /></tr>;
}

// [first, last) of the rows that are in view or near it, and the height of one row (measured on the
// drawn rows, so the spacers match whatever the fonts make it). Measured after every render and on the
// window's scrolling and resizing; a render only follows when the range moved.
function useInView(body, count) {
  const [view, setView] = useState([0, 0, 30]);
  const measure = useRef(null);
  measure.current = () => {
    const element = body.current;
    if (!element) return;
    const rowPx = rowHeight(element.querySelectorAll("tr[data-execution]")) || view[2];
    const top = element.getBoundingClientRect().top;
    const first = Math.max(0, Math.min(count, Math.floor(-top / rowPx) - OVERSCAN));
    const last = Math.max(first, Math.min(count, Math.ceil((innerHeight - top) / rowPx) + OVERSCAN));
    if (first !== view[0] || last !== view[1] || Math.abs(rowPx - view[2]) > 0.01) setView([first, last, rowPx]);
  };
  useLayoutEffect(() => measure.current());
  useEffect(() => {
    const onChange = () => measure.current();
    addEventListener("scroll", onChange, { passive: true });
    addEventListener("resize", onChange);
    return () => (removeEventListener("scroll", onChange), removeEventListener("resize", onChange));
  }, []);
  return view;
}

function rowHeight(drawn) {
  if (!drawn.length) return 0;
  const span = drawn[drawn.length - 1].getBoundingClientRect().bottom - drawn[0].getBoundingClientRect().top;
  return span / drawn.length;
}

// A re-read brings new objects for every row; only the drawn rows whose execution moved (or is still
// running, for its duration) or whose place changed are rendered again.
class Row extends Component {
  shouldComponentUpdate({ execution: next, index }) {
    const old = this.props.execution;
    const moved = next.last_sequence !== old.last_sequence || next.status !== old.status || index !== this.props.index;
    return moved || !next.completed_at;
  }

  render({ execution, index }) {
    return <RowCells execution={execution} index={index} />;
  }
}

function RowCells({ execution: e, index }) {
  const end = e.completed_at ? Date.parse(e.completed_at) : Date.now();
  const { tokens, cost } = usage(e);
  return (
    <tr data-execution={e.execution_id} data-status={e.status} aria-rowindex={index + 2}>
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
