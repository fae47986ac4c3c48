import { useEffect, useRef } from "preact/hooks";
import { stream } from "./api.js";
import { merge } from "./rows.js";

// fn(), at most once per `gapMs` and never while the previous call is still running: schedule() as
// often as you like. Returns { schedule, cancel }.
function throttled(fn, gapMs) {
  let busy = false;
  let pending = false;
  let last = 0;
  let timer = null;
  const fire = async () => {
    timer = null;
    if (busy) return void (pending = true);
    busy = true;
    pending = false;
    last = Date.now();
    try {
      await fn();
    } finally {
      busy = false;
      if (pending) schedule();
    }
  };
  const schedule = () => {
    if (timer) return;
    timer = setTimeout(fire, Math.max(0, last + gapMs() - Date.now()));
  };
  return { schedule, cancel: () => timer && clearTimeout(timer) };
}

// The latest value of a prop, for callbacks registered once.
function useLatest(value) {
  const ref = useRef(value);
  ref.current = value;
  return ref;
}

// Calls reload() when the tenant's executions change, at most once per `gapMs` (and never while a
// reload is still running), so hundreds of running executions cost a few reloads a second.
export function useLiveReload(reload, gapMs = 500) {
  const latest = useLatest(reload);
  const gap = useLatest(gapMs);
  useEffect(() => {
    const { schedule, cancel } = throttled(() => latest.current(), () => gap.current);
    const stop = stream("/stream/executions", (m) => m.event === "changed" && schedule(), { onOpen: schedule });
    return () => (stop(), cancel());
  }, []);
}

// Follows the tenant's executions row by row: onEntries(entries) once per animation frame with what
// the stream said since the last one (one merged entry per execution), so a burst of messages costs
// one render. reload() (throttled to `gapMs`) when the stream (re)connects, since it may have missed
// changes, and whenever onEntries returns true.
export function useLiveRows(onEntries, reload, gapMs) {
  const latest = useLatest({ onEntries, reload });
  const gap = useLatest(gapMs);
  useEffect(() => {
    const reloads = throttled(() => latest.current.reload(), () => gap.current);
    let waiting = new Map();
    let frame = 0;
    const flush = () => {
      frame = 0;
      const entries = [...waiting.values()];
      waiting = new Map();
      if (latest.current.onEntries(entries)) reloads.schedule();
    };
    const onMessage = (m) => {
      if (m.event !== "changed") return;
      for (const entry of JSON.parse(m.data).executions) {
        waiting.set(entry.execution_id, merge(waiting.get(entry.execution_id), entry));
      }
      frame ||= requestAnimationFrame(flush);
    };
    const stop = stream("/stream/executions", onMessage, { onOpen: reloads.schedule });
    return () => (stop(), reloads.cancel(), frame && cancelAnimationFrame(frame));
  }, []);
}
