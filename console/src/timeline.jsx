// A Gantt-style bar per node attempt: where it started and ended on the execution's clock, with its
// outcome written on it (retries and lease expiries included), not only coloured.
import { formatDuration } from "./status.jsx";

export function Timeline({ folded }) {
  const { attempts, retries } = folded;
  if (!attempts.length) return <p>No node has started yet.</p>;
  const begin = folded.begin || Math.min(...attempts.map((a) => a.start));
  const now = Date.now();
  const end = Math.max(folded.end || now, ...attempts.map((a) => a.end || now), begin + 1);
  const pct = (t) => `${(((t - begin) / (end - begin)) * 100).toFixed(2)}%`;
  return (
    <div class="timeline" role="table" aria-label="Node attempts">
      {attempts.map((a, i) => {
        const stop = a.end || now;
        return (
          <div role="row" class="lane" key={i}>
            <span role="rowheader" class="lane-label">{a.node} attempt {a.attempt + 1}</span>
            <span role="cell" class="lane-track">
              <span class={`bar outcome-${a.outcome.replace(/[^a-z]+/g, "-")}`} style={{ left: pct(a.start), width: `max(2px, calc(${pct(stop)} - ${pct(a.start)}))` }}
                title={`${a.node} attempt ${a.attempt + 1} on ${a.worker}: ${a.outcome}, ${formatDuration(stop - a.start)}`}>
                {a.outcome} · {formatDuration(stop - a.start)}
              </span>
            </span>
          </div>
        );
      })}
      {retries.map((r, i) => (
        <p key={`r${i}`} class="retry">↻ {r.node}: retry (attempt {r.attempt + 1}) after {formatDuration(r.delay)}</p>
      ))}
    </div>
  );
}
