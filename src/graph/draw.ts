/**
 * The expanded network as a drawing. `layoutGraph` hands the typed graph to ELK (elkjs, the Eclipse
 * Layout Kernel's layered algorithm): one box per node, one compound box per scope of the hierarchical
 * names (`stage2/fractal/col3/unit1/bconv` sits in stage2 › fractal › col3 › unit1), so fractal columns
 * come out side by side between their joins, and every input of a node is an edge — residual and dense
 * shortcuts and the columns' ways into a join included. `drawingToSvg` renders the laid-out drawing.
 * Free of Node APIs: the browser page draws with the same code.
 */
import type { ELK as ElkInstance, ELKConstructorArguments, ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import { nodeMacs, nodeParamCount } from '../cost.js';
import { describeAttrs } from './print.js';
import type { Graph, GraphNode } from './types.js';

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A laid-out node of the graph, in absolute coordinates. */
export interface DrawnNode extends Box {
  id: number;
  name: string;
  op: string;
  /** What its box says: the op with what tells it apart (`bconv 3×3 /2`, `dwconv 3×3`, `join mean`). */
  label: string;
  shape: number[];
  /** `bin`: its output values are ±1. */
  precision: 'f32' | 'bin';
  /** It holds a kernel stored as 1 bit per value. */
  binaryKernel: boolean;
  params: number;
  macs: number;
  /** OPs in the Bi-Real Net convention: binary MACs / 64, float MACs as they are. */
  ops: number;
  attrs: string;
  /** `file:line:column` of the spec text it came from, when it came from one. */
  source?: string;
  line?: number;
  /** The innermost box it sits in (a key of `groupKeysOf`; '' at the top). */
  group: string;
}

/** A scope of the names (`stage2`, `stage2/fractal`, `stage2/fractal/col3#2`, ...) drawn as a box around its nodes. */
export interface DrawnGroup extends Box {
  path: string;
  /** What the box is labelled: the last part of the path, without its segment number. */
  label: string;
  depth: number;
  /** Nodes inside, at any depth; their params and MACs. */
  nodes: number;
  params: number;
  macs: number;
  ops: number;
}

/** `data`: an input feeding the next op; `shortcut`: the skip input of an add or concat; `join`: a column into a fractal join. */
export type EdgeKind = 'data' | 'shortcut' | 'join';

export interface DrawnEdge {
  from: number;
  to: number;
  kind: EdgeKind;
  /** Start, bends and end, in absolute coordinates. */
  points: { x: number; y: number }[];
}

export interface Drawing {
  width: number;
  height: number;
  nodes: DrawnNode[];
  groups: DrawnGroup[];
  edges: DrawnEdge[];
}

/**
 * ELK's constructor, loaded on first use (elkjs is large; importing SoFAr should not pay for it). elkjs
 * is CommonJS: its module object is the constructor, which its type declarations call `default`.
 */
async function loadElk(): Promise<new (args?: ELKConstructorArguments) => ElkInstance> {
  const module = (await import('elkjs/lib/elk.bundled.js')) as unknown as { default: unknown };
  return module.default as new (args?: ELKConstructorArguments) => ElkInstance;
}

const CHAR = 6.6;
const NODE_HEIGHT = 34;
const GROUP_PREFIX = 'g:';

/** The scopes of a name, outermost first: `a/b/c` → ['a', 'a/b']. */
export function scopesOf(name: string): string[] {
  const parts = name.split('/');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

const size = (dims: readonly number[]) => (dims[0] === dims[1] ? `${dims[0]}×${dims[0]}` : dims.join('×'));
const stride = (dims: readonly number[]) => (dims.every((d) => d === 1) ? [] : [`/${dims[0] === dims[1] ? dims[0] : dims.join('×')}`]);

/**
 * The op line of a node's box: a conv's kernel, stride (`/2`), dilation and groups (`dwconv` when each
 * channel has its own filter, `g4` for 4 groups; `bconv` for a binary kernel), a pool's window and
 * stride, a join's mode; other ops by their name.
 */
export function nodeLabel(node: GraphNode, graph: Graph): string {
  switch (node.op) {
    case 'conv': {
      const a = node.attrs;
      const inChannels = graph.nodes[node.inputs[0]].shape[0];
      const depthwise = a.groups > 1 && a.groups === inChannels;
      const name = `${a.kernelQuantizer ? 'b' : ''}${depthwise ? 'dw' : ''}conv`;
      const dilation = a.dilation.some((d) => d !== 1) ? [`dil ${a.dilation.join('×')}`] : [];
      const groups = a.groups > 1 && !depthwise ? [`g${a.groups}`] : [];
      return [name, size(a.kernel), ...stride(a.stride), ...dilation, ...groups].join(' ');
    }
    case 'maxpool':
    case 'avgpool':
      return [node.op, size(node.attrs.kernel), ...stride(node.attrs.stride)].join(' ');
    case 'join':
      return `join ${node.attrs.mode}`;
    default:
      return node.op;
  }
}

const boxLines = (node: GraphNode, graph: Graph) => [nodeLabel(node, graph), `${node.precision}[${node.shape.join('×')}]`];

/**
 * How an input reaches a node. Into an add or concat, the shortcut is the input that comes from outside
 * the node's block (the identity of a residual unit, the features a dense layer keeps); when all come
 * from inside, the one on a path named `shortcut` (a projection); else every input but the latest.
 */
export function edgeKind(graph: Graph, node: GraphNode, input: number): EdgeKind {
  if (node.op === 'join') return 'join';
  if (node.op !== 'add' && node.op !== 'concat') return 'data';
  const scopes = scopesOf(node.name);
  const block = scopes[scopes.length - 1];
  const outside = (i: number) => block !== undefined && !graph.nodes[i].name.startsWith(block + '/');
  if (node.inputs.some(outside) && !node.inputs.every(outside)) return outside(input) ? 'shortcut' : 'data';
  const named = (i: number) => graph.nodes[i].name.split('/').includes('shortcut');
  if (node.inputs.some(named) && !node.inputs.every(named)) return named(input) ? 'shortcut' : 'data';
  return input !== Math.max(...node.inputs) ? 'shortcut' : 'data';
}

/**
 * The boxes a node sits in, outermost first. A scope is its name's prefix, except that a fractal
 * column is cut at each join of its fractal: `col3#2` holds the column's units after the first join, so
 * every column segment sits between the joins it feeds and follows.
 */
export function groupKeysOf(graph: Graph): string[][] {
  const joins = new Map<string, number[]>();
  for (const n of graph.nodes) {
    if (n.op !== 'join') continue;
    const scopes = scopesOf(n.name);
    const scope = scopes[scopes.length - 1] ?? '';
    joins.set(scope, [...(joins.get(scope) ?? []), n.id]);
  }
  return graph.nodes.map((n) => {
    const keys: string[] = [];
    let parentScope = '';
    for (const scope of scopesOf(n.name)) {
      const segment = (joins.get(parentScope) ?? []).filter((j) => j < n.id).length;
      const last = scope.slice(parentScope ? parentScope.length + 1 : 0);
      keys.push(`${keys.length ? keys[keys.length - 1] + '/' : ''}${last}${segment ? `#${segment + 1}` : ''}`);
      parentScope = scope;
    }
    return keys;
  });
}

const LAYOUT_OPTIONS = {
  'elk.algorithm': 'layered',
  'elk.direction': 'DOWN',
  'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
  'elk.edgeRouting': 'ORTHOGONAL',
  'elk.layered.spacing.nodeNodeBetweenLayers': '22',
  'elk.spacing.nodeNode': '14',
  'elk.padding': '[top=22,left=8,bottom=8,right=8]',
  'elk.json.shapeCoords': 'ROOT',
  'elk.json.edgeCoords': 'ROOT',
} as const;

/** Lays the graph out with ELK's layered algorithm. */
export async function layoutGraph(graph: Graph): Promise<Drawing> {
  const root: ElkNode = { id: 'root', layoutOptions: { ...LAYOUT_OPTIONS }, children: [], edges: [] };
  const groups = new Map<string, ElkNode>([['', root]]);
  const keysOf = groupKeysOf(graph);
  const groupOf = (keys: string[]): ElkNode => {
    const path = keys.length ? keys[keys.length - 1] : '';
    let g = groups.get(path);
    if (!g) {
      const parent = groupOf(keys.slice(0, -1));
      g = { id: GROUP_PREFIX + path, children: [], layoutOptions: { 'elk.padding': '[top=22,left=8,bottom=8,right=8]' } };
      parent.children!.push(g);
      groups.set(path, g);
    }
    return g;
  };
  for (const node of graph.nodes) {
    const parent = groupOf(keysOf[node.id]);
    const width = Math.max(...boxLines(node, graph).map((l) => l.length)) * CHAR + 16;
    parent.children!.push({ id: String(node.id), width, height: NODE_HEIGHT });
  }
  const edges: ElkExtendedEdge[] = graph.nodes.flatMap((node) =>
    node.inputs.map((input, k) => ({ id: `e${node.id}.${k}`, sources: [String(input)], targets: [String(node.id)] })),
  );
  root.edges = edges;
  const ELK = await loadElk();
  const laid = await new ELK().layout(root);

  const boxes = new Map<string, Box>();
  const visit = (n: ElkNode) => {
    boxes.set(n.id, { x: n.x ?? 0, y: n.y ?? 0, width: n.width ?? 0, height: n.height ?? 0 });
    for (const c of n.children ?? []) visit(c);
  };
  visit(laid);
  const laidEdges = new Map<string, ElkExtendedEdge>();
  const collect = (n: ElkNode) => {
    for (const e of n.edges ?? []) laidEdges.set(e.id, e);
    for (const c of n.children ?? []) collect(c);
  };
  collect(laid);

  const nodes: DrawnNode[] = graph.nodes.map((node) => {
    const keys = keysOf[node.id];
    const cost = nodeMacs(node, graph);
    const params = nodeParamCount(node); // Larq's count, so the bars add up to the summary's total
    return {
      ...boxes.get(String(node.id))!,
      id: node.id,
      name: node.name,
      op: node.op,
      label: nodeLabel(node, graph),
      shape: node.shape,
      precision: node.precision,
      binaryKernel: node.params.some((p) => p.binary),
      params,
      macs: cost.macs,
      ops: cost.binary ? cost.macs / 64 : cost.macs,
      attrs: describeAttrs(node),
      ...(node.source ? { source: `${node.source.file}:${node.source.line}:${node.source.column}`, line: node.source.line } : {}),
      group: keys.length ? keys[keys.length - 1] : '',
    };
  });
  const drawnGroups: DrawnGroup[] = [...groups.keys()]
    .filter((path) => path !== '')
    .map((path) => {
      const inside = nodes.filter((n) => n.group === path || n.group.startsWith(path + '/'));
      return {
        ...boxes.get(GROUP_PREFIX + path)!,
        path,
        label: path.split('/').pop()!.replace(/#\d+$/, ''),
        depth: path.split('/').length,
        nodes: inside.length,
        params: inside.reduce((s, n) => s + n.params, 0),
        macs: inside.reduce((s, n) => s + n.macs, 0),
        ops: inside.reduce((s, n) => s + n.ops, 0),
      };
    });
  const drawnEdges: DrawnEdge[] = graph.nodes.flatMap((node) =>
    node.inputs.map((input, k) => {
      const section = laidEdges.get(`e${node.id}.${k}`)?.sections?.[0];
      const points = section ? [section.startPoint, ...(section.bendPoints ?? []), section.endPoint] : [];
      return { from: input, to: node.id, kind: edgeKind(graph, node, input), points };
    }),
  );
  return { width: laid.width ?? 0, height: laid.height ?? 0, nodes, groups: drawnGroups, edges: drawnEdges };
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const r1 = (n: number) => Math.round(n * 10) / 10;

/** Fill and stroke of a node: binary values orange, binary kernels deep orange, float blue-grey. */
export function nodeColours(n: Pick<DrawnNode, 'precision' | 'binaryKernel'>): { fill: string; stroke: string } {
  if (n.binaryKernel) return { fill: '#ffb74d', stroke: '#e65100' };
  if (n.precision === 'bin') return { fill: '#ffe0b2', stroke: '#ef6c00' };
  return { fill: '#e3eaf2', stroke: '#546e7a' };
}

const EDGE_STYLE: Record<EdgeKind, string> = {
  data: 'stroke="#555" stroke-width="1.2"',
  shortcut: 'stroke="#2e7d32" stroke-width="1.6" stroke-dasharray="5 3"',
  join: 'stroke="#6a1b9a" stroke-width="1.6"',
};

/** The boxes around a group (itself too with `self`), outermost first: what hides it when collapsed. */
function ancestors(path: string, self = false): string[] {
  if (!path) return [];
  const parts = path.split('/');
  return parts.slice(0, self ? parts.length : parts.length - 1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

/** The drawing as SVG elements (no document wrapper): groups, then edges, then nodes on top. */
export function drawingElements(d: Drawing): string[] {
  const parts: string[] = [];
  const groupOfNode = new Map(d.nodes.map((n) => [n.id, n.group]));
  for (const g of [...d.groups].sort((a, b) => a.depth - b.depth)) {
    parts.push(
      `<g class="group" data-path="${esc(g.path)}" data-in="${esc(ancestors(g.path).join(' '))}"><rect x="${r1(g.x)}" y="${r1(g.y)}" width="${r1(g.width)}" height="${r1(g.height)}" rx="6" fill="${g.depth % 2 ? '#fafafa' : '#f0f0f0'}" stroke="#bbb"/><text x="${r1(g.x + 6)}" y="${r1(g.y + 14)}" font-size="11" fill="#666">${esc(g.label)}</text></g>`,
    );
  }
  for (const e of d.edges) {
    if (e.points.length < 2) continue;
    parts.push(`<polyline class="edge ${e.kind}" data-in="${esc([...new Set([...ancestors(groupOfNode.get(e.from)!, true), ...ancestors(groupOfNode.get(e.to)!, true)])].join(' '))}" data-from="${e.from}" data-to="${e.to}" fill="none" ${EDGE_STYLE[e.kind]} marker-end="url(#arrow)" points="${e.points.map((p) => `${r1(p.x)},${r1(p.y)}`).join(' ')}"/>`);
  }
  for (const n of d.nodes) {
    const { fill, stroke } = nodeColours(n);
    const tip = `${n.name}\n${n.op} ${n.attrs}\n${n.precision}[${n.shape.join('×')}]\nparams ${n.params.toLocaleString('en-US')}, MACs ${n.macs.toLocaleString('en-US')}${n.source ? `\n${n.source}` : ''}`;
    parts.push(
      `<g class="node" data-id="${n.id}" data-name="${esc(n.name)}" data-in="${esc(ancestors(n.group, true).join(' '))}"><title>${esc(tip)}</title><rect x="${r1(n.x)}" y="${r1(n.y)}" width="${r1(n.width)}" height="${r1(n.height)}" rx="3" fill="${fill}" stroke="${stroke}"${n.binaryKernel ? ' stroke-width="2"' : ''}/><text x="${r1(n.x + n.width / 2)}" y="${r1(n.y + 14)}" text-anchor="middle" font-weight="600">${esc(n.label)}</text><text x="${r1(n.x + n.width / 2)}" y="${r1(n.y + 27)}" text-anchor="middle" font-size="10">${esc(`${n.precision}[${n.shape.join('×')}]`)}</text></g>`,
    );
  }
  return parts;
}

export const ARROW_DEFS = '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>';

/** A legend for the colours and edge styles, as SVG elements at (x, y). */
function legend(x: number, y: number): string[] {
  const items: [string, string][] = [
    [nodeColours({ precision: 'f32', binaryKernel: false }).fill, 'float values'],
    [nodeColours({ precision: 'bin', binaryKernel: false }).fill, 'binary values (±1)'],
    [nodeColours({ precision: 'f32', binaryKernel: true }).fill, 'binary kernel'],
  ];
  const parts = items.map(([fill, text], i) => `<rect x="${x + i * 150}" y="${y}" width="14" height="14" fill="${fill}" stroke="#777"/><text x="${x + i * 150 + 20}" y="${y + 11}">${text}</text>`);
  const edges: [EdgeKind, string][] = [['shortcut', 'shortcut'], ['join', 'into a join']];
  edges.forEach(([kind, text], i) => parts.push(`<line x1="${x + 450 + i * 130}" y1="${y + 7}" x2="${x + 480 + i * 130}" y2="${y + 7}" ${EDGE_STYLE[kind]}/><text x="${x + 486 + i * 130}" y="${y + 11}">${text}</text>`));
  return parts;
}

/** A standalone SVG document of the drawing, with a title line and a legend. */
export function drawingToSvg(graph: Graph, d: Drawing): string {
  const top = 44;
  const width = Math.max(Math.ceil(d.width), 720);
  const height = Math.ceil(d.height) + top;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<title>${esc(graph.name)} — SoFAr graph</title>`,
    ARROW_DEFS,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="8" y="16" font-size="14" font-weight="bold">${esc(graph.name)} (input ${graph.input.join('×')}, ${graph.classes} classes, ${graph.nodes.length} nodes)</text>`,
    ...legend(8, 24),
    `<g transform="translate(0,${top})">`,
    ...drawingElements(d),
    '</g>',
    '</svg>',
    '',
  ].join('\n');
}
