// The gateway's HTTP API, with the token the person logged in with.
// The token lives in sessionStorage (gone with the tab) and is only ever sent as an
// Authorization header: live streams are read with fetch(), not EventSource, for that reason.

const KEY = "jamjet.token";

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function headers(extra = {}) {
  return { Authorization: `Bearer ${token.get() || ""}`, ...extra };
}

export async function api(path, { method = "GET", body, signal } = {}) {
  const init = { method, signal, headers: headers(body ? { "Content-Type": "application/json" } : {}) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = data.error || {};
    if (response.status === 401) window.dispatchEvent(new Event("jamjet:unauthorized"));
    throw new ApiError(response.status, error.code || "http_error", error.message || response.statusText);
  }
  return data;
}

export function query(params) {
  const pairs = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "");
  return pairs.length ? "?" + new URLSearchParams(pairs).toString() : "";
}

// Server-Sent Events over fetch: onMessage({event, id, data}) per message. Reconnects with
// Last-Event-ID after a dropped connection; resolves when the server ends the stream.
export function stream(path, onMessage, { lastId = null, onOpen, onEnd } = {}) {
  const controller = new AbortController();
  let last = lastId;
  const run = async () => {
    for (let backoff = 250; !controller.signal.aborted; backoff = Math.min(backoff * 2, 5000)) {
      try {
        const extra = last ? { "Last-Event-ID": String(last), Accept: "text/event-stream" } : { Accept: "text/event-stream" };
        const response = await fetch(path, { headers: headers(extra), signal: controller.signal });
        if (!response.ok) throw new ApiError(response.status, "stream", response.statusText);
        if (onOpen) onOpen();
        backoff = 250;
        await readEvents(response.body, (message) => {
          if (message.id) last = message.id;
          onMessage(message);
        });
        if (onEnd) onEnd();
        return; // the server ended it: nothing more will come
      } catch (error) {
        if (controller.signal.aborted || (error instanceof ApiError && error.status < 500)) return;
        await new Promise((resolve) => setTimeout(resolve, backoff));
      }
    }
  };
  run();
  return () => controller.abort();
}

async function readEvents(body, onMessage) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const message = parseBlock(block);
      if (message) onMessage(message);
    }
  }
}

function parseBlock(block) {
  const message = { event: "message", id: null, data: "" };
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "data") data.push(value);
    else if (field === "event") message.event = value;
    else if (field === "id") message.id = value;
  }
  if (!data.length) return null;
  message.data = data.join("\n");
  return message;
}
