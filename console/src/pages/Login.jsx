import { useState } from "preact/hooks";
import { api, token } from "../api.js";
import { ErrorNote } from "../status.jsx";

export function Login({ onLogin }) {
  const [value, setValue] = useState("");
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    token.set(value.trim());
    try {
      await api("/executions?limit=1");
      onLogin();
    } catch (err) {
      token.clear();
      setError(err.status === 401 ? new Error("That token is not valid.") : err);
    }
  };
  return (
    <main class="login">
      <h1>JamJet console</h1>
      <form onSubmit={submit}>
        <label for="token">API token</label>
        <input id="token" type="password" autocomplete="current-password" value={value}
          onInput={(e) => setValue(e.currentTarget.value)} required />
        <button type="submit">Log in</button>
        <ErrorNote error={error} />
        <p class="hint">The token stays in this tab only and is sent to the gateway as a Bearer header.</p>
      </form>
    </main>
  );
}
