/**
 * The block structure of a graph, recovered from its node names: `stage2/unit1/bconv` is the layer
 * `bconv` of the scope `stage2/unit1`, inside `stage2`. Each scope is a level of the module tree (its
 * path, with `/` read as `.`, is the module path), so parameters keep their graph names.
 *
 * A scope becomes a block with its own `forward` when it is *convex*: no value leaves it and comes
 * back (a Bi-Real unit, a fractal, a dense layer). A fractal column is not — its units interleave with
 * the joins of the fractal around it — so it stays a plain container that the enclosing block calls
 * into (`self.col3.unit2(x)`). That is the one place the emitted modules do not mirror the spec's
 * blocks one for one.
 */
import type { Graph, GraphNode } from '../../src/graph/types.js';

export interface Scope {
  /** `stage2/unit1`; '' for the model itself. */
  path: string;
  /** The last segment: `unit1`. */
  segment: string;
  children: Map<string, Scope>;
  /** Nodes directly in this scope, in graph order. */
  leaves: GraphNode[];
  /** Ids of every node in this scope and below. */
  nodes: Set<number>;
  /** A block with its own forward (convex), or a container of names. */
  callable: boolean;
  /** Values (node ids) from outside that nodes inside use, ascending. */
  inputs: number[];
  /** Values (node ids) inside that nodes outside use, or the model's output, ascending. */
  outputs: number[];
}

export const PYTHON_RESERVED = new Set(
  (
    'False None True and as assert async await break class continue def del elif else except finally for from global if import in is ' +
    'lambda nonlocal not or pass raise return try while with yield ' +
    // attributes of nn.Module that a submodule cannot shadow
    'training forward type float double half bfloat16 cuda cpu to train eval apply parameters buffers children modules state_dict ' +
    'load_state_dict zero_grad add_module register_buffer register_parameter register_module get_submodule get_parameter ' +
    'named_parameters named_buffers named_children named_modules extra_repr requires_grad_ share_memory dump_patches'
  ).split(' '),
);

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function buildScopes(graph: Graph): Scope {
  const root = newScope('', '');
  for (const node of graph.nodes) {
    const parts = node.name.split('/');
    for (const part of parts) {
      if (!IDENTIFIER.test(part) || PYTHON_RESERVED.has(part)) {
        throw new Error(`the node '${node.name}' cannot be a PyTorch module path: '${part}' is not a free Python name; rename it in the spec`);
      }
    }
    let scope = root;
    scope.nodes.add(node.id);
    for (let i = 0; i < parts.length - 1; i++) {
      const path = parts.slice(0, i + 1).join('/');
      let child = scope.children.get(parts[i]);
      if (!child) scope.children.set(parts[i], (child = newScope(path, parts[i])));
      scope = child;
      scope.nodes.add(node.id);
    }
    scope.leaves.push(node);
  }
  const users = usersOf(graph);
  annotate(root, graph, users);
  return root;
}

function newScope(path: string, segment: string): Scope {
  return { path, segment, children: new Map(), leaves: [], nodes: new Set(), callable: false, inputs: [], outputs: [] };
}

function usersOf(graph: Graph): number[][] {
  const users: number[][] = graph.nodes.map(() => []);
  for (const node of graph.nodes) for (const i of node.inputs) users[i].push(node.id);
  return users;
}

function annotate(scope: Scope, graph: Graph, users: number[][]): void {
  for (const leaf of scope.leaves) {
    if (scope.children.has(leaf.name.split('/').pop()!)) {
      throw new Error(`'${leaf.name}' names both a layer and a scope of layers; rename one in the spec`);
    }
  }
  const inside = scope.nodes;
  scope.inputs = [...new Set([...inside].flatMap((id) => graph.nodes[id].inputs.filter((i) => !inside.has(i))))].sort((a, b) => a - b);
  scope.outputs = [...inside].filter((id) => id === graph.output || users[id].some((u) => !inside.has(u))).sort((a, b) => a - b);
  scope.callable = scope.path === '' || isConvex(inside, graph);
  for (const child of scope.children.values()) annotate(child, graph, users);
}

/** No path leaves the set and comes back: then the set can be computed by one call. */
function isConvex(inside: Set<number>, graph: Graph): boolean {
  const ids = [...inside];
  const first = Math.min(...ids);
  const last = Math.max(...ids);
  const reached = new Set<number>();
  for (let id = first; id <= last; id++) {
    const node = graph.nodes[id];
    const fromInside = node.inputs.some((i) => inside.has(i) || reached.has(i));
    if (!inside.has(id)) {
      if (fromInside) reached.add(id);
    } else if (node.inputs.some((i) => reached.has(i))) {
      return false;
    }
  }
  return true;
}
