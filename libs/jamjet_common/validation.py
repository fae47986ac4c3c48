"""Structural validation of a workflow IR: one specific message per problem, and warnings.

What cannot run is rejected (``InvalidIrError`` listing every problem); what the original runtime
accepts and we can run is accepted with a warning: nodes unreachable from the start node (never run),
versions that are not X.Y.Z, retry policy names the runtime does not know (the default policy, 3
attempts).
"""

from __future__ import annotations

from collections.abc import Iterator

from jamjet_common.catalog import MAX_VERSION, is_semver, name_problem
from jamjet_common.errors import InvalidIrError
from jamjet_common.ir import END, ConditionNode, WorkflowIr

BUILTIN_RETRY_POLICIES = frozenset({"no_retry", "io_default", "llm_default"})
MAX_NODE_ID = 256


def validate_workflow(ir: WorkflowIr) -> list[str]:
    """The warnings about a runnable IR; raise :class:`InvalidIrError` listing every problem otherwise."""
    problems = list(_problems(ir))
    if problems:
        raise InvalidIrError(problems)
    return list(_warnings(ir))


def _warnings(ir: WorkflowIr) -> Iterator[str]:
    if not is_semver(ir.version):
        yield (
            f"version '{ir.version}' is not a semantic version X.Y.Z: it becomes the latest version when "
            "registered after another, unless both are semantic versions"
        )
    yield from _unknown_retry_policies(ir)
    yield from _unreachable(ir)


def _problems(ir: WorkflowIr) -> Iterator[str]:
    yield from _metadata(ir)
    yield from _node_ids(ir)
    if ir.start_node not in ir.nodes:
        yield f"start node '{ir.start_node}' is not a node of the workflow"
    yield from _edges(ir)
    yield from _branches(ir)
    yield from _retry_policies(ir)
    cycle = find_cycle(ir)
    if cycle:
        names = ", ".join(repr(n) for n in cycle[:-1])
        yield f"edges form a cycle through nodes {names}: " + " -> ".join(cycle)


def _metadata(ir: WorkflowIr) -> Iterator[str]:
    for problem in (
        name_problem(ir.workflow_id, "workflow_id"),
        None if ir.name is None else name_problem(ir.name, "name"),
        name_problem(ir.version, "version", MAX_VERSION),
    ):
        if problem is not None:
            yield problem
    if not ir.nodes:
        yield "the workflow has no nodes"


def _node_ids(ir: WorkflowIr) -> Iterator[str]:
    for key, node in ir.nodes.items():
        if key != node.id:
            yield f"node key '{key}' does not match its id '{node.id}'"
        if not key or len(key) > MAX_NODE_ID or key == END:
            yield f"node id '{key[:40]}' must be 1-{MAX_NODE_ID} characters and not '{END}'"


def _edges(ir: WorkflowIr) -> Iterator[str]:
    for edge in ir.edges:
        if edge.from_ not in ir.nodes:
            yield f"edge {edge.from_} -> {edge.to}: source '{edge.from_}' is not a node"
        if edge.to != END and edge.to not in ir.nodes:
            yield f"edge {edge.from_} -> {edge.to}: target '{edge.to}' is neither a node nor '{END}'"


def _branches(ir: WorkflowIr) -> Iterator[str]:
    out_edges = {(e.from_, e.to) for e in ir.edges}
    for node_id, node in ir.nodes.items():
        if not isinstance(node.kind, ConditionNode):
            continue
        for branch in node.kind.branches:
            if branch.target != END and branch.target not in ir.nodes:
                yield f"condition '{node_id}': branch target '{branch.target}' is neither a node nor '{END}'"
            elif (node_id, branch.target) not in out_edges:
                yield (
                    f"condition '{node_id}': branch target '{branch.target}' has no edge "
                    f"{node_id} -> {branch.target}"
                )


def _unknown_retry_policies(ir: WorkflowIr) -> Iterator[str]:
    for node_id, node in ir.nodes.items():
        name = node.retry_policy
        if name is not None and name not in BUILTIN_RETRY_POLICIES and name not in ir.retry_policies:
            yield (
                f"node '{node_id}': retry_policy '{name}' is neither built in "
                f"({', '.join(sorted(BUILTIN_RETRY_POLICIES))}) nor in retry_policies; "
                "the default policy applies (3 attempts)"
            )


def _retry_policies(ir: WorkflowIr) -> Iterator[str]:
    for name, policy in ir.retry_policies.items():
        if policy.max_attempts < 1:
            yield f"retry policy '{name}': max_attempts must be at least 1"


def successors(ir: WorkflowIr) -> dict[str, list[str]]:
    """Out-edges by source node, `end` excluded, in declaration order without duplicates."""
    out: dict[str, list[str]] = {node_id: [] for node_id in ir.nodes}
    for edge in ir.edges:
        targets = out.get(edge.from_)
        if targets is not None and edge.to in ir.nodes and edge.to not in targets:
            targets.append(edge.to)
    return out


def find_cycle(ir: WorkflowIr) -> list[str] | None:
    """Return one cycle as a node path (first node repeated at the end), or None."""
    succ = successors(ir)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    for root in ir.nodes:
        path = _dfs_cycle(root, succ, state)
        if path:
            return path
    return None


def _dfs_cycle(root: str, succ: dict[str, list[str]], state: dict[str, int]) -> list[str] | None:
    # Iterative so that a long chain cannot exhaust Python's recursion limit.
    if state.get(root):
        return None
    stack: list[tuple[str, Iterator[str]]] = [(root, iter(succ[root]))]
    state[root] = 1
    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is None:
            state[node] = 2
            stack.pop()
        elif state.get(child) == 1:
            path = [n for n, _ in stack]
            return [*path[path.index(child) :], child]
        elif not state.get(child):
            state[child] = 1
            stack.append((child, iter(succ[child])))
    return None


def _unreachable(ir: WorkflowIr) -> Iterator[str]:
    seen = reachable(ir)
    for node_id in ir.nodes:
        if node_id not in seen:
            yield f"node '{node_id}' is not reachable from start node '{ir.start_node}': it never runs"


def reachable(ir: WorkflowIr) -> set[str]:
    """The nodes an edge path leads to from the start node (empty if there is no start node)."""
    if ir.start_node not in ir.nodes:
        return set()
    succ = successors(ir)
    seen = {ir.start_node}
    frontier = [ir.start_node]
    while frontier:
        for child in succ[frontier.pop()]:
            if child not in seen:
                seen.add(child)
                frontier.append(child)
    return seen
