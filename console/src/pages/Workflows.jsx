import { useEffect, useState } from "preact/hooks";
import { api } from "../api.js";
import { Graph } from "../graph.jsx";
import { ErrorNote, formatTime } from "../status.jsx";

export function Workflows() {
  const [items, setItems] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => void api("/workflows").then((r) => setItems(r.workflows), setError), []);
  if (error) return <ErrorNote error={error} />;
  if (!items) return <p aria-live="polite">Loading…</p>;
  return (
    <section aria-labelledby="workflows-title">
      <h1 id="workflows-title">Workflows</h1>
      {items.length === 0 && <p>No workflow is registered.</p>}
      {items.map((w) => (
        <article key={`${w.workflow_id}@${w.version}`} class="workflow" data-workflow={w.workflow_id}>
          <h2>{w.workflow_id} <small>v{w.version}</small></h2>
          <p>Registered {formatTime(w.registered_at)}</p>
          {w.warnings.length > 0 && (
            <ul class="warnings" aria-label="Registration warnings">
              {w.warnings.map((text) => <li>⚠ {text}</li>)}
            </ul>
          )}
          <Graph ir={w.ir} states={null} title={`graph of ${w.workflow_id} v${w.version}`} />
        </article>
      ))}
    </section>
  );
}
