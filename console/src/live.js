import { useEffect, useRef } from "preact/hooks";
import { stream } from "./api.js";

// Calls reload() when the tenant's executions change, at most once per `gapMs` (and never while a
// reload is still running), so hundreds of running executions cost a few reloads a second.
export function useLiveReload(reload, gapMs = 500) {
  const latest = useRef(reload);
  latest.current = reload;
  const gap = useRef(gapMs);
  gap.current = gapMs;
  useEffect(() => {
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
        await latest.current();
      } finally {
        busy = false;
        if (pending) schedule();
      }
    };
    const schedule = () => {
      if (timer) return;
      timer = setTimeout(fire, Math.max(0, last + gap.current - Date.now()));
    };
    const stop = stream("/stream/executions", (m) => m.event === "changed" && schedule(), { onOpen: schedule });
    return () => (stop(), timer && clearTimeout(timer));
  }, []);
}
