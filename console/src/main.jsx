import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { token } from "./api.js";
import { Executions } from "./pages/Executions.jsx";
import { Execution } from "./pages/Execution.jsx";
import { Approvals } from "./pages/Approvals.jsx";
import { DeadLetters } from "./pages/DeadLetters.jsx";
import { Workflows } from "./pages/Workflows.jsx";
import { Login } from "./pages/Login.jsx";
import "./style.css";

// Pages live in the URL fragment (#/executions/...), so they never collide with the API's paths.
function useRoute() {
  const read = () => (location.hash.replace(/^#/, "") || "/executions").split("?")[0];
  const [route, setRoute] = useState(read());
  useEffect(() => {
    const update = () => setRoute(read());
    window.addEventListener("hashchange", update);
    return () => window.removeEventListener("hashchange", update);
  }, []);
  return route;
}

const NAV = [
  ["/executions", "Executions"],
  ["/approvals", "Approvals"],
  ["/dead-letters", "Dead letters"],
  ["/workflows", "Workflows"],
];

function page(route) {
  const parts = route.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "executions" && parts[1]) return <Execution id={parts[1]} />;
  if (parts[0] === "approvals") return <Approvals />;
  if (parts[0] === "dead-letters") return <DeadLetters />;
  if (parts[0] === "workflows") return <Workflows />;
  return <Executions />;
}

function App() {
  const route = useRoute();
  const [loggedIn, setLoggedIn] = useState(Boolean(token.get()));
  const [config, setConfig] = useState({});
  useEffect(() => {
    const out = () => (token.clear(), setLoggedIn(false));
    window.addEventListener("jamjet:unauthorized", out);
    fetch("/console/config").then((r) => r.json()).then(setConfig).catch(() => {});
    return () => window.removeEventListener("jamjet:unauthorized", out);
  }, []);
  if (!loggedIn) return <Login onLogin={() => setLoggedIn(true)} />;
  window.jamjetConfig = config;
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById("main").focus())}>
        Skip to content
      </a>
      <header>
        <strong class="brand">JamJet</strong>
        <nav aria-label="Main">
          {NAV.map(([path, name]) => (
            <a href={`#${path}`} aria-current={route.startsWith(path) ? "page" : undefined}>{name}</a>
          ))}
        </nav>
        <button type="button" class="link" onClick={() => (token.clear(), setLoggedIn(false))}>Log out</button>
      </header>
      <main id="main" tabIndex={-1}>{page(route)}</main>
    </>
  );
}

render(<App />, document.getElementById("app"));
