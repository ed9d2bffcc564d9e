/**
 * The graph as JSON, and back. The JSON is the graph itself (it is plain data); reading validates it
 * so a hand-edited or foreign file fails with a clear message instead of a confusing crash later.
 */
import { error, type Diagnostic } from '../diagnostics.js';
import { attrsProblem } from './attrs.js';
import { GRAPH_FORMAT, GRAPH_VERSION, OP_KINDS, type Graph, type GraphNode } from './types.js';

export function graphToJson(graph: Graph, options: { sources?: boolean; indent?: number } = {}): string {
  const keepSources = options.sources ?? true;
  const plain: Graph = keepSources ? graph : { ...graph, nodes: graph.nodes.map(({ source: _source, ...rest }) => rest as GraphNode) };
  return JSON.stringify(plain, null, options.indent ?? 2);
}

export function graphFromJson(text: string, file = 'graph.json'): { graph?: Graph; diagnostics: Diagnostic[] } {
  const fail = (message: string) => ({ diagnostics: [error('bad-graph', `${file}: ${message}`)] });
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    return fail(`not JSON (${(e as Error).message})`);
  }
  const g = data as Partial<Graph>;
  if (typeof g !== 'object' || g === null || g.format !== GRAPH_FORMAT) return fail(`not a SoFAr graph (format should be '${GRAPH_FORMAT}')`);
  if (g.version !== GRAPH_VERSION) return fail(`graph version ${String(g.version)} is not supported (this SoFAr reads version ${GRAPH_VERSION})`);
  if (typeof g.name !== 'string' || !isShape(g.input) || typeof g.classes !== 'number' || !Array.isArray(g.nodes) || typeof g.output !== 'number') {
    return fail('missing or malformed name, input, classes, nodes or output');
  }
  const names = new Set<string>();
  for (let i = 0; i < g.nodes.length; i++) {
    const n = g.nodes[i] as Partial<GraphNode>;
    const where = `node ${i}${typeof n?.name === 'string' ? ` (${n.name})` : ''}`;
    if (typeof n !== 'object' || n === null) return fail(`${where} is not an object`);
    if (n.id !== i) return fail(`${where} has id ${String(n.id)}; ids must equal positions`);
    if (!OP_KINDS.includes(n.op as never)) return fail(`${where} has an unknown op '${String(n.op)}'`);
    if (typeof n.name !== 'string' || !isShape(n.shape) || (n.precision !== 'f32' && n.precision !== 'bin')) return fail(`${where} lacks a name, shape or precision`);
    if (!Array.isArray(n.inputs) || n.inputs.some((j) => typeof j !== 'number' || j < 0 || j >= i)) return fail(`${where} has inputs that are not earlier nodes`);
    if (typeof n.attrs !== 'object' || n.attrs === null || !Array.isArray(n.params)) return fail(`${where} lacks attrs or params`);
    fillDefaults(n as GraphNode);
    const problem = attrsProblem(n as GraphNode);
    if (problem) return fail(`${where}: ${problem}`);
    if (names.has(n.name)) return fail(`${where} repeats the name of an earlier node; node names are unique`);
    names.add(n.name);
  }
  if (g.output < 0 || g.output >= g.nodes.length) return fail(`output ${g.output} is not a node`);
  return { graph: g as Graph, diagnostics: [] };
}

function isShape(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((d) => Number.isInteger(d) && d > 0);
}

/**
 * Attributes added to version 1 after graphs were written with it: a conv's pad value (0) and batch
 * norm's scale and center (both on). Filled in place so older graph files read as they always meant.
 */
function fillDefaults(node: GraphNode): void {
  if (node.op === 'conv') {
    const attrs = node.attrs as Partial<typeof node.attrs>;
    attrs.padValue ??= 0;
  } else if (node.op === 'batchnorm') {
    const attrs = node.attrs as Partial<typeof node.attrs>;
    attrs.scale ??= true;
    attrs.center ??= true;
  }
}
