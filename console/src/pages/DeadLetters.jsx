import { useEffect, useState } from "preact/hooks";
import { api, query } from "../api.js";
import { ErrorNote, Json, Pager, formatTime } from "../status.jsx";

export function DeadLetters() {
  const [kind, setKind] = useState("");
  const [cursors, setCursors] = useState([null]);
  const [page, setPage] = useState({ dead_letters: [], next: null });
  const [error, setError] = useState(null);
  const after = cursors[cursors.length - 1];
  useEffect(() => {
    api(`/dead-letters${query({ kind, after, limit: 100 })}`).then((p) => (setPage(p), setError(null)), setError);
  }, [kind, after]);
  return (
    <section aria-labelledby="dead-title">
      <h1 id="dead-title">Dead letters</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>Kind
          <select value={kind} onChange={(e) => (setKind(e.currentTarget.value), setCursors([null]))}>
            <option value="">any</option><option value="work">out of attempts</option><option value="decode">undecodable</option>
          </select>
        </label>
      </form>
      <ErrorNote error={error} />
      <table class="grid" aria-label="Dead letters">
        <thead>
          <tr><th scope="col">When</th><th scope="col">Kind</th><th scope="col">Execution</th><th scope="col">Node</th><th scope="col">Attempts</th><th scope="col">Last error</th><th scope="col">Record</th></tr>
        </thead>
        <tbody>
          {page.dead_letters.map((d) => (
            <tr key={d.id} data-dead-letter={d.execution_id || ""}>
              <td>{formatTime(d.created_at)}</td>
              <td>{d.kind}</td>
              <td>{d.execution_id ? <a href={`#/executions/${encodeURIComponent(d.execution_id)}`}>{d.execution_id}</a> : "–"}</td>
              <td>{d.node_id || "–"}</td>
              <td class="num">{d.attempts ?? "–"}</td>
              <td class="error-text">{d.last_error || "–"}</td>
              <td><details><summary>JSON</summary><Json value={d} /></details></td>
            </tr>
          ))}
        </tbody>
      </table>
      {page.dead_letters.length === 0 && !error && <p>No dead letters.</p>}
      <Pager cursors={cursors} setCursors={setCursors} next={page.next} />
    </section>
  );
}
