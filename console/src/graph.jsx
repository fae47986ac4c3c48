// A workflow IR drawn as a graph: dagre lays it out, SVG draws it. Each node shows its state as an
// icon and a word (and a colour); nodes are focusable, so the graph can be walked with the keyboard.
import dagre from "@dagrejs/dagre";
import { useMemo } from "preact/hooks";
import { label } from "./status.jsx";

const WIDTH = 168;
const HEIGHT = 52;
const ICONS = {
  pending: "○", scheduled: "◔", running: "▶", completed: "✔", skipped: "⤼", failed: "✖",
  cancelled: "⊘", waiting: "‖",
};

export function layout(ir) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 24, ranksep: 48, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  const ids = Object.keys(ir.nodes || {});
  for (const id of ids) g.setNode(id, { width: WIDTH, height: HEIGHT });
  const hasEnd = (ir.edges || []).some((e) => e.to === "end");
  if (hasEnd) g.setNode("end", { width: 64, height: 32 });
  for (const edge of ir.edges || []) {
    if (g.hasNode(edge.from) && g.hasNode(edge.to)) g.setEdge(edge.from, edge.to);
  }
  dagre.layout(g);
  const nodes = g.nodes().map((id) => ({ id, ...g.node(id), kind: kindOf(ir, id) }));
  const edges = g.edges().map((e) => ({ from: e.v, to: e.w, points: g.edge(e).points }));
  return { nodes, edges, width: g.graph().width, height: g.graph().height };
}

function kindOf(ir, id) {
  if (id === "end") return "end";
  const node = ir.nodes[id];
  return (node && node.kind && node.kind.type) || "?";
}

export function Graph({ ir, states = {}, title, onSelect, selected }) {
  const drawn = useMemo(() => layout(ir), [ir]);
  return (
    <figure class="graph">
      <svg
        role="group"
        aria-label={title}
        viewBox={`0 0 ${drawn.width} ${drawn.height}`}
        width={drawn.width}
        height={drawn.height}
      >
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">
            <path d="M0,0 L10,5 L0,10 z" class="arrow" />
          </marker>
        </defs>
        {drawn.edges.map((e) => (
          <polyline
            key={`${e.from}-${e.to}`}
            class="edge"
            marker-end="url(#arrow)"
            points={e.points.map((p) => `${p.x},${p.y}`).join(" ")}
          />
        ))}
        {drawn.nodes.map((n) => (
          <Node key={n.id} node={n} state={states ? states[n.id] || "pending" : null} selected={selected === n.id} onSelect={onSelect} />
        ))}
      </svg>
    </figure>
  );
}

function Node({ node, state, selected, onSelect }) {
  const x = node.x - node.width / 2;
  const y = node.y - node.height / 2;
  if (node.id === "end") {
    return (
      <g class="node node-end" transform={`translate(${x},${y})`}>
        <rect width={node.width} height={node.height} rx="16" />
        <text x={node.width / 2} y={node.height / 2 + 4} text-anchor="middle">end</text>
      </g>
    );
  }
  const shown = state || "none";
  const select = () => onSelect && onSelect(node.id);
  return (
    <g
      class={`node state-${shown}${selected ? " selected" : ""}`}
      data-node={node.id}
      data-state={shown}
      transform={`translate(${x},${y})`}
      tabIndex={0}
      role="button"
      aria-label={state ? `node ${node.id} (${node.kind}): ${label(state)}` : `node ${node.id} (${node.kind})`}
      onClick={select}
      onKeyDown={(e) => (e.key === "Enter" || e.key === " ") && (e.preventDefault(), select())}
    >
      <rect width={node.width} height={node.height} rx="6" />
      <text x="10" y="20" class="node-id">{node.id}</text>
      <text x="10" y="40" class="node-state">
        {state ? `${ICONS[state] || "•"} ${label(state)} · ${node.kind}` : node.kind}
      </text>
    </g>
  );
}
