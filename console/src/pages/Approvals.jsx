import { useCallback, useEffect, useState } from "preact/hooks";
import { api } from "../api.js";
import { useLiveReload } from "../live.js";
import { ErrorNote, Json, formatTime } from "../status.jsx";

export function ApprovalForm({ executionId, approval, onDone }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const id = `${executionId}-${approval.node_id}`;
  const decide = (decision) => async (e) => {
    const form = e.currentTarget.form;
    setBusy(true);
    try {
      await api(`/executions/${encodeURIComponent(executionId)}/approve`, {
        method: "POST",
        body: {
          decision,
          node_id: approval.node_id,
          user_id: form.elements.user.value || "console",
          comment: form.elements.comment.value || null,
        },
      });
      onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="approval" data-approval={id} aria-label={`Approval of ${approval.node_id} in ${executionId}`} onSubmit={(e) => e.preventDefault()}>
      <p>
        <span aria-hidden="true">‖</span> <strong>{approval.node_id}</strong> waits for approval
        {approval.tool_name ? <> ({approval.tool_name})</> : null}
        {approval.approver ? <>, approver {approval.approver}</> : null}
      </p>
      {approval.context != null && <details><summary>Context</summary><Json value={approval.context} /></details>}
      <label for={`${id}-user`}>Your name</label>
      <input id={`${id}-user`} name="user" placeholder="console" />
      <label for={`${id}-comment`}>Comment</label>
      <textarea id={`${id}-comment`} name="comment" rows="2" />
      <div class="buttons">
        <button type="button" disabled={busy} onClick={decide("approved")}>✔ Approve</button>
        <button type="button" disabled={busy} class="danger" onClick={decide("rejected")}>✖ Reject</button>
      </div>
      <ErrorNote error={error} />
    </form>
  );
}

export function Approvals() {
  const [items, setItems] = useState([]);
  const [error, setError] = useState(null);
  const load = useCallback(async () => {
    try {
      setItems((await api("/approvals?status=pending&limit=200")).approvals);
      setError(null);
    } catch (err) {
      setError(err);
    }
  }, []);
  useEffect(() => void load(), [load]);
  useLiveReload(load);
  return (
    <section aria-labelledby="approvals-title">
      <h1 id="approvals-title">Approvals</h1>
      <ErrorNote error={error} />
      {items.length === 0 && <p>Nothing waits for a person.</p>}
      <ul class="cards">
        {items.map((a) => (
          <li key={`${a.execution_id}-${a.node_id}-${a.requested_seq}`}>
            <p>
              Execution <a href={`#/executions/${encodeURIComponent(a.execution_id)}`}>{a.execution_id}</a>, asked{" "}
              {formatTime(a.requested_at)}
            </p>
            <ApprovalForm executionId={a.execution_id} approval={a} onDone={load} />
          </li>
        ))}
      </ul>
    </section>
  );
}
