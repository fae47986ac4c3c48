import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, query, stream } from "../api.js";
import { emptyFold, fold } from "../fold.js";
import { Graph } from "../graph.jsx";
import { ErrorNote, Json, Status, formatDuration, formatTime, usage } from "../status.jsx";
import { Timeline } from "../timeline.jsx";
import { ApprovalForm } from "./Approvals.jsx";

const TERMINAL = new Set(["workflow_completed", "workflow_failed", "workflow_cancelled"]);
const FINAL = new Set(["completed", "failed", "cancelled"]);
const RELOAD_ON = new Set([...TERMINAL, "tool_approval_required", "approval_received", "workflow_started"]);

function useEvents(id, onNotable) {
  const [events, setEvents] = useState([]);
  useEffect(() => {
    let buffer = [];
    let frame = null;
    const flush = () => {
      frame = null;
      const batch = buffer;
      buffer = [];
      setEvents((old) => old.concat(batch));
      if (batch.some((e) => RELOAD_ON.has(e.kind.type))) onNotable.current(batch.some((e) => TERMINAL.has(e.kind.type)));
    };
    let next = 1;
    let closed = false;
    const add = (event) => {
      if (event.sequence < next) return;
      next = event.sequence + 1;
      buffer.push(event);
      frame = frame || requestAnimationFrame(flush);
    };
    // The stream ends with the terminal event; nodes stopped by a cancel record their outcome just
    // after it, so the page reads what came later for a few seconds.
    const catchUp = async (tries = 0) => {
      if (closed || tries > 12) return;
      const page = await api(`/executions/${encodeURIComponent(id)}/events?from_sequence=${next}`).catch(() => null);
      (page ? page.events : []).forEach(add);
      setTimeout(() => catchUp(tries + 1), 500);
    };
    const stop = stream(`/executions/${encodeURIComponent(id)}/events?follow=true`, (m) => {
      if (m.event !== "error") add(JSON.parse(m.data));
    }, { onEnd: () => catchUp() });
    return () => ((closed = true), stop(), frame && cancelAnimationFrame(frame), setEvents([]));
  }, [id]);
  return events;
}

function useProgress(id) {
  const [chunks, setChunks] = useState([]);
  useEffect(() => {
    const stop = stream(`/executions/${encodeURIComponent(id)}/progress`, (m) =>
      setChunks((old) => [...old.slice(-199), { type: m.event, data: JSON.parse(m.data) }]),
    );
    return () => (stop(), setChunks([]));
  }, [id]);
  return chunks;
}

export function Execution({ id }) {
  const [execution, setExecution] = useState(null);
  const [workflow, setWorkflow] = useState(null);
  const [approvals, setApprovals] = useState({ pending: [], decided: [] });
  const [trace, setTrace] = useState(null);
  const [error, setError] = useState(null);
  const [selected, setSelected] = useState(null);
  const path = `/executions/${encodeURIComponent(id)}`;

  const reload = useRef(null);
  reload.current = async (ended = false, tries = 0) => {
    try {
      const found = await api(path);
      setExecution(found);
      setApprovals(await api(`${path}/approvals`));
      // The store folds the terminal event a moment after the page sees it: read again until it has.
      if (ended && !FINAL.has(found.status) && tries < 20) setTimeout(() => reload.current(true, tries + 1), 250);
      return found;
    } catch (err) {
      setError(err);
    }
  };
  useEffect(() => {
    reload.current().then((found) => {
      if (!found) return;
      api(`/workflows/${encodeURIComponent(found.workflow_id)}${query({ version: found.workflow_version })}`)
        .then(setWorkflow, setError);
      api(`${path}/trace`).then((t) => setTrace(t.trace_id), () => {});
    });
  }, [id]);
  const events = useEvents(id, reload);
  const chunks = useProgress(id);
  const folded = useMemo(() => events.reduce(fold, emptyFold(execution && execution.initial_input)), [events, execution && execution.execution_id]);

  if (error && !execution) return <ErrorNote error={error} />;
  if (!execution) return <p aria-live="polite">Loading…</p>;
  const status = folded.status || execution.status;
  return (
    <article aria-labelledby="execution-title">
      <h1 id="execution-title">Execution <code>{execution.execution_id}</code></h1>
      <Summary execution={execution} status={status} trace={trace} folded={folded} />
      <ErrorNote error={error} />
      <Actions execution={execution} status={status} approvals={approvals} states={folded.states} path={path} onDone={() => reload.current()} setError={setError} />
      <section aria-labelledby="graph-title">
        <h2 id="graph-title">Graph</h2>
        {workflow ? (
          <Graph ir={workflow.ir} states={folded.states} title={`graph of ${execution.workflow_id}`} selected={selected} onSelect={setSelected} />
        ) : <p>Loading the workflow…</p>}
        {selected && <NodeDetail node={selected} events={events} />}
      </section>
      <section aria-labelledby="timeline-title">
        <h2 id="timeline-title">Timeline</h2>
        <Timeline folded={folded} />
      </section>
      <Notable events={folded.notable} />
      <Progress chunks={chunks} />
      <section aria-labelledby="state-title">
        <h2 id="state-title">State</h2>
        {folded.snapshots.map((s) => (
          <details key={s.sequence}><summary>after <code>{s.node}</code> (event {s.sequence})</summary><Json value={s.state} /></details>
        ))}
        <details open={TERMINAL.has(events.length && events[events.length - 1].kind.type)}>
          <summary>{folded.final !== undefined ? "Final state" : "Current state"}</summary>
          <Json value={folded.final !== undefined ? folded.final : execution.current_state} />
        </details>
      </section>
      <EventLog events={events} />
    </article>
  );
}

function Summary({ execution, status, trace, folded }) {
  const template = (window.jamjetConfig || {}).trace_url;
  const end = execution.completed_at ? Date.parse(execution.completed_at) : folded.end || Date.now();
  const { tokens, cost } = usage(execution);
  const errors = folded.errors.length ? folded.errors : execution.error ? [execution.error] : [];
  return (
    <dl class="summary">
      <dt>Status</dt><dd data-testid="execution-status" aria-live="polite"><Status state={status} /></dd>
      <dt>Workflow</dt><dd>{execution.workflow_id} v{execution.workflow_version}</dd>
      <dt>Tenant</dt><dd>{execution.tenant}</dd>
      <dt>Started</dt><dd>{formatTime(execution.started_at)}</dd>
      <dt>Duration</dt><dd>{formatDuration(end - Date.parse(execution.started_at))}</dd>
      <dt>Tokens / cost</dt><dd>{tokens} / ${cost.toFixed(4)}</dd>
      <dt>Trace</dt>
      <dd>{trace ? (template ? <a href={template.replace("{trace_id}", trace)} target="_blank" rel="noreferrer">{trace}</a> : <code>{trace}</code>) : "–"}</dd>
      {errors.length > 0 && (
        <>
          <dt>Error</dt>
          <dd class="error" data-testid="execution-error">{errors.map((text) => <div key={text}>✖ {text}</div>)}</dd>
        </>
      )}
    </dl>
  );
}

function Actions({ execution, status, approvals, states, path, onDone, setError }) {
  const live = !["completed", "failed", "cancelled"].includes(status);
  // The store's list may lag the events shown: a node offered for a decision must still be waiting.
  const pending = approvals.pending.filter((a) => live && states[a.node_id] === "waiting");
  const act = (fn) => async (e) => {
    e.preventDefault();
    try {
      await fn(new FormData(e.currentTarget));
      e.currentTarget && e.currentTarget.reset && e.currentTarget.reset();
      setError(null);
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  const cancel = act((form) => api(`${path}/cancel`, { method: "POST", body: { reason: form.get("reason") || null } }));
  const signal = act((form) => {
    const raw = form.get("payload");
    return api(`${path}/external-event`, {
      method: "POST",
      body: { correlation_key: form.get("key"), payload: raw ? JSON.parse(raw) : null },
    });
  });
  return (
    <section aria-labelledby="actions-title">
      <h2 id="actions-title">Actions</h2>
      {pending.map((a) => (
        <ApprovalForm key={a.node_id} executionId={execution.execution_id} approval={a} onDone={onDone} />
      ))}
      {approvals.decided.map((a) => (
        <p key={`${a.node_id}-${a.sequence}`} class="decided">
          <Status state={a.status === "approved" ? "completed" : "failed"} /> {a.node_id} {a.status} by {a.user_id}
          {a.comment ? `: “${a.comment}”` : ""}
        </p>
      ))}
      {!live && <p>None: the execution has ended.</p>}
      {live && (
        <div class="forms">
          <form onSubmit={cancel} aria-label="Cancel the execution">
            <label>Reason <input name="reason" /></label>
            <button type="submit" class="danger">Cancel execution</button>
          </form>
          <form onSubmit={signal} aria-label="Send a signal">
            <label>Correlation key <input name="key" required /></label>
            <label>Payload (JSON) <input name="payload" /></label>
            <button type="submit">Send signal</button>
          </form>
        </div>
      )}
    </section>
  );
}

function Notable({ events }) {
  if (!events.length) return null;
  return (
    <section aria-labelledby="notable-title">
      <h2 id="notable-title">Errors, policy and budget</h2>
      <ul class="notable">
        {events.map((e) => (
          <li key={e.sequence}><strong>{e.kind.type}</strong> {e.kind.node_id || ""} {e.kind.error || e.kind.rule || e.kind.reason || ""}</li>
        ))}
      </ul>
    </section>
  );
}

function Progress({ chunks }) {
  if (!chunks.length) return null;
  return (
    <section aria-labelledby="progress-title">
      <h2 id="progress-title">Agent progress</h2>
      <ol class="progress" aria-live="polite">
        {chunks.map((c, i) => <li key={i}><code>{c.type}</code> {JSON.stringify(c.data.delta ?? c.data.chunk ?? c.data)}</li>)}
      </ol>
    </section>
  );
}

function NodeDetail({ node, events }) {
  const mine = events.filter((e) => e.kind.node_id === node);
  return (
    <div class="node-detail" aria-live="polite">
      <h3>Node <code>{node}</code></h3>
      <ul>{mine.map((e) => <li key={e.sequence}>#{e.sequence} {e.kind.type} {formatTime(e.created_at)}</li>)}</ul>
    </div>
  );
}

function EventLog({ events }) {
  return (
    <section aria-labelledby="events-title">
      <h2 id="events-title">Events ({events.length})</h2>
      <ol class="events">
        {events.map((e) => (
          <li key={e.sequence} data-kind={e.kind.type}>
            <details>
              <summary>#{e.sequence} <strong>{e.kind.type}</strong> {e.kind.node_id || ""} <small>{formatTime(e.created_at)}</small></summary>
              <Json value={e} />
            </details>
          </li>
        ))}
      </ol>
    </section>
  );
}
