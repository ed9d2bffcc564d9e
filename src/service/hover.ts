/**
 * Hover text (Markdown) for a position: for a layer or a block call, what it made — output shape,
 * precision, parameters and MACs of each instance; for a quantizer, its forward and gradient; for a
 * block, its signature and doc comment; for a layer name, its arguments.
 */
import { nodeMacs } from '../cost.js';
import { LAYERS } from '../elaborate/layers.js';
import { describeAttrs } from '../graph/print.js';
import type { Graph, GraphNode } from '../graph/types.js';
import { isQuantizerName, quantizerDef } from '../quantizers.js';
import { allBlocks, declarations, docCommentAbove, nodesAt, resolveName, tokenAt, type Analysis } from './analysis.js';

const int = (n: number) => n.toLocaleString('en-US');
const shape = (s: readonly number[]) => s.join('×');
/** The most instances of one statement a hover lists. */
const SHOWN = 4;

export interface Hover {
  markdown: string;
  /** The hovered word. */
  range: { offset: number; length: number };
}

export function hoverAt(a: Analysis, offset: number): Hover | null {
  const token = tokenAt(a, offset);
  if (!token || !/^[A-Za-z_]/.test(token.image)) return null;
  const range = { offset: token.startOffset, length: token.image.length };
  const word = token.image;
  const parts: string[] = [];

  const decl = resolveName(declarations(a.ast, a.text.length), word, offset);
  if (decl?.kind === 'block' && decl.block) parts.push(blockHover(a, decl.block.name.span.line, decl.block));
  else if (decl) parts.push(`\`${word}\`: ${decl.kind === 'param' ? 'a parameter' : decl.kind === 'loop' ? 'a loop variable' : 'a `let` name'}`);
  else if (isQuantizerName(word)) parts.push(quantizerHover(word));

  const nodes = nodesAt(a, offset);
  if (nodes.length) parts.push(nodesHover(a, nodes));
  else if (!decl && Object.hasOwn(LAYERS, word)) parts.push(layerHover(word));
  return parts.length ? { markdown: parts.join('\n\n---\n\n'), range } : null;
}

function graphOf(a: Analysis, node: GraphNode): Graph {
  for (const g of a.graphs.values()) if (g.nodes[node.id] === node) return g;
  throw new Error('internal: a hovered node belongs to no graph');
}

function nodesHover(a: Analysis, nodes: readonly GraphNode[]): string {
  // A statement makes one node a call of its block; the last node of each instance is its output.
  const lines = nodes.slice(0, SHOWN).map((n) => {
    const graph = graphOf(a, n);
    const params = n.params.reduce((sum, p) => sum + p.shape.reduce((x, y) => x * y, 1), 0);
    const binaryParams = n.params.filter((p) => p.binary).reduce((sum, p) => sum + p.shape.reduce((x, y) => x * y, 1), 0);
    const macs = nodeMacs(n, graph);
    const attrs = describeAttrs(n);
    const facts = [
      `→ **${shape(n.shape)}**`,
      n.precision === 'bin' ? 'binary values' : 'real values',
      params ? `${int(params)} params${binaryParams ? ` (${int(binaryParams)} 1-bit)` : ''}` : null,
      macs.macs ? `${int(macs.macs)} ${macs.binary ? 'binary' : 'float'} MACs` : null,
    ].filter(Boolean);
    return `- \`${n.name}\` ${n.op}${attrs ? ` ${attrs}` : ''}: ${facts.join(', ')}`;
  });
  if (nodes.length > SHOWN) lines.push(`- … and ${nodes.length - SHOWN} more instances`);
  return lines.join('\n');
}

function blockHover(a: Analysis, line: number, block: ReturnType<typeof allBlocks>[number]): string {
  const text = a.text.slice(block.span.offset, block.span.offset + block.span.length);
  const signature = text.slice(0, text.indexOf('{')).trim();
  const doc = docCommentAbove(a.text, line);
  return ['```sofar', signature, '```', ...(doc ? [doc] : [])].join('\n');
}

function quantizerHover(name: Parameters<typeof quantizerDef>[0]): string {
  const def = quantizerDef(name);
  const args = Object.entries(def.args).map(([k, v]) => `${k} = ${v}`);
  return [`**${name}**${args.length ? `(${args.join(', ')})` : ''} — ${def.uses.join(' and ')} quantizer`, '', def.summary].join('\n');
}

function layerHover(name: string): string {
  const def = LAYERS[name];
  const args = def.args.map((arg, i) => `- \`${arg.name}\`${i < def.positional ? ' (positional)' : ''}${arg.required ? ', required' : ''}: ${arg.doc}`);
  return [`**${name}** — ${def.summary}`, '', ...args].join('\n');
}
