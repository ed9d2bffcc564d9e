/**
 * Completion at a position: after a layer's or block's name, its arguments (`name=` with their docs);
 * after `quantizer =`, `activations =` or `weights =`, the quantizers of that use; elsewhere the layers,
 * the blocks and combinators of the file, keywords, and the names in scope (parameters, `let`s, loop
 * variables).
 */
import { LAYERS } from '../elaborate/layers.js';
import { quantizerDef, quantizersFor, type QuantizerUse } from '../quantizers.js';
import { allBlocks, declarations, type Analysis } from './analysis.js';

export type CompletionKind = 'layer' | 'block' | 'argument' | 'quantizer' | 'keyword' | 'name';

export interface Completion {
  label: string;
  kind: CompletionKind;
  detail: string;
  /** Text to insert when it differs from the label (`stride=`). */
  insert?: string;
}

const KEYWORDS = ['model', 'block', 'stage', 'if', 'else', 'for', 'in', 'let', 'binarize', 'input', 'classes', 'true', 'false', 'and', 'or', 'not', 'none'];
const COMBINATORS: Record<string, string> = {
  residual: 'residual(shortcut = P) { body }: P(x) + body(x); the identity without a shortcut',
  concat: 'concat { body }: the dense shortcut, concat(x, body(x)) along channels',
  fractal: 'fractal(columns = C, join = mean, drop_path = p) { unit }: FractalNet expansion',
  parallel: 'parallel(join = sum | concat | multiply) { branch { … } branch { … } }: branches on the same input, joined',
  branch: 'branch { body }: one path of a parallel block (empty: the identity)',
  add_into: 'add_into { body }: x with body(x) added into its last channels (MeliusNet)',
};
const QUANTIZER_ARGS: Record<string, QuantizerUse> = { input_quantizer: 'activation', quantizer: 'activation', activations: 'activation', kernel_quantizer: 'weight', weights: 'weight' };

export function completionsAt(a: Analysis, offset: number): Completion[] {
  const line = a.text.slice(a.text.lastIndexOf('\n', offset - 1) + 1, offset);
  const statement = line.slice(Math.max(line.lastIndexOf(';'), line.lastIndexOf('{')) + 1);

  // `kernel_quantizer = ste_…`, `binarize activations = …`: the quantizers of that use.
  const quantizerArg = /([A-Za-z_]+)\s*=\s*[A-Za-z_]*$/.exec(statement);
  if (quantizerArg && QUANTIZER_ARGS[quantizerArg[1]]) {
    return quantizersFor(QUANTIZER_ARGS[quantizerArg[1]]).map((name) => ({ label: name, kind: 'quantizer' as const, detail: quantizerDef(name).summary }));
  }

  // After a layer or a block call's name: its arguments, then the names in scope as values.
  const head = /^\s*(?:[A-Za-z_]\w*\s*:\s*)?([A-Za-z_]\w*)\b(.*)$/.exec(statement);
  const names = namesInScope(a, offset);
  // Past the name: something after it (`bn mo`), or a space typed after it (`bn `); right at it (`bn`) the name itself is completed.
  if (head && head[2] !== '') {
    const args = argumentsOf(a, head[1]);
    if (args) return [...args, ...names];
  }
  const blocks = allBlocks(a.ast).map((b) => ({ label: b.name.name, kind: 'block' as const, detail: `block ${b.name.name}(${b.params.map((p) => p.name.name).join(', ')})` }));
  const layers = Object.values(LAYERS).map((l) => ({ label: l.name, kind: 'layer' as const, detail: l.summary }));
  const combinators = Object.entries(COMBINATORS).map(([label, detail]) => ({ label, kind: 'keyword' as const, detail }));
  const keywords = KEYWORDS.map((k) => ({ label: k, kind: 'keyword' as const, detail: 'keyword' }));
  return [...layers, ...blocks, ...combinators, ...names, ...keywords];
}

/** The arguments of a layer (from the registry) or a block of the file (its parameters with defaults), or null. */
function argumentsOf(a: Analysis, callee: string): Completion[] | null {
  if (Object.hasOwn(LAYERS, callee)) {
    return LAYERS[callee].args.map((arg) => ({ label: arg.name, kind: 'argument' as const, detail: arg.doc, insert: `${arg.name}=` }));
  }
  const block = allBlocks(a.ast).find((b) => b.name.name === callee);
  if (!block) return null;
  return block.params.map((p) => {
    const fallback = p.default ? a.text.slice(p.default.span.offset, p.default.span.offset + p.default.span.length) : null;
    return { label: p.name.name, kind: 'argument' as const, detail: fallback ? `default ${fallback}` : 'required', insert: `${p.name.name} = ` };
  });
}

/** Parameters, `let` names and loop variables visible at `offset`, and `channels`, `height`, `width`. */
function namesInScope(a: Analysis, offset: number): Completion[] {
  const seen = new Set<string>();
  const out: Completion[] = [];
  for (const d of declarations(a.ast, a.text.length)) {
    if (d.kind === 'block' || offset < d.scope.offset || offset > d.scope.end || seen.has(d.name.name)) continue;
    seen.add(d.name.name);
    out.push({ label: d.name.name, kind: 'name', detail: d.kind === 'param' ? 'parameter' : d.kind === 'loop' ? 'loop variable' : 'let' });
  }
  for (const [label, detail] of [
    ['channels', 'channels of the current feature map'],
    ['height', 'height of the current feature map'],
    ['width', 'width of the current feature map'],
  ]) {
    if (!seen.has(label)) out.push({ label, kind: 'name', detail });
  }
  return out;
}
