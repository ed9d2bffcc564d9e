/**
 * Load-time rewrites of a checked model, each exact in real arithmetic: a float conv absorbs the affine
 * map (batch norm, per-channel bias or scale) and the ReLU after it; a conv or binary conv absorbs the
 * residual Add it alone feeds (the kernel adds the other operand in its output transform). With
 * `binaryPost` (the kernels have sofar_bconv2d_prepacked_post) a binary conv also absorbs what ReActNet
 * puts after it: an affine map before the residual (into multiplier and bias), shifts after it (into the
 * bias), a PReLU or ReLU, and shifts after that (`post`), so a block's RPReLU and the next RSign's shift
 * run in the conv, whose sign packing then feeds the next binary conv. Identity nodes disappear. Plain
 * data in, plain data out.
 */
import type { RuntimeModel, RuntimeNode } from './model.js';

type ConvNode = Extract<RuntimeNode, { op: 'conv' }>;
type BconvNode = Extract<RuntimeNode, { op: 'bconv' }>;

/** A conv or binary conv with what it absorbed: out = post + prelu_alpha(conv + residual), relu for float convs. */
export type FusedConv = (ConvNode | BconvNode) & { residual: string | null; relu: boolean; alpha: Float32Array | null; post: Float32Array | null };
export type FusedNode = Exclude<RuntimeNode, ConvNode | BconvNode> | FusedConv;

export interface FuseOptions {
  /** The binary conv's output transform takes PReLU and a shift after the residual. */
  binaryPost?: boolean;
}

export function fuse(model: RuntimeModel, options: FuseOptions = {}): FusedNode[] {
  const alias = new Map<string, string>();
  const resolve = (name: string) => alias.get(name) ?? name;
  const nodes: (FusedNode | null)[] = [];
  for (const node of model.nodes) {
    const inputs = node.inputs.map(resolve);
    if (node.op === 'identity' && node.output !== model.output.name) {
      alias.set(node.output, inputs[0]);
      continue;
    }
    nodes.push(node.op === 'conv' || node.op === 'bconv' ? { ...node, inputs, residual: null, relu: false, alpha: null, post: null } : { ...node, inputs });
  }

  // Readers of each value. A merge keeps every other value's count: the merged node's operands are
  // read by the conv instead, and the conv's own output disappears.
  const count = new Map<string, number>();
  for (const n of nodes) if (n) for (const i of n.inputs) count.set(i, (count.get(i) ?? 0) + 1);
  count.set(model.output.name, (count.get(model.output.name) ?? 0) + 1);
  const producerIndex = new Map<string, number>();
  nodes.forEach((n, i) => n && producerIndex.set(n.output, i));

  // Each pass merges a node into the conv before it, when the conv's output has no other reader.
  nodes.forEach((node, i) => {
    if (!node || !(node.op === 'affine' || node.op === 'relu' || node.op === 'prelu' || node.op === 'add')) return;
    for (const [k, input] of node.inputs.entries()) {
      const at = producerIndex.get(input);
      const conv = at === undefined ? null : nodes[at];
      if (!conv || !isConv(conv) || count.get(input) !== 1 || conv.relu) continue;
      if (!(conv.op === 'bconv' ? absorbAfterBinary(conv, node, k, options) : absorbAfterFloat(conv, node, k))) continue;
      // The conv now computes this node's output, at this node's place (all its operands exist by then).
      conv.output = node.output;
      conv.shape = node.shape;
      conv.name = `${conv.name}+${node.name}`;
      nodes[at!] = null;
      nodes[i] = conv;
      producerIndex.set(node.output, i);
      count.delete(input);
      return;
    }
  });
  return nodes.filter((n): n is FusedNode => n !== null);
}

type Follower = Extract<FusedNode, { op: 'affine' | 'relu' | 'prelu' | 'add' }>;

/** A float conv takes an affine map (folded into weights and bias), a ReLU, or a residual. */
function absorbAfterFloat(conv: FusedConv & { op: 'conv' }, node: Follower, k: number): boolean {
  if (node.op === 'affine') {
    if (conv.residual) return false;
    foldBatchNorm(conv, node.scale, node.shift);
  } else if (node.op === 'relu') {
    conv.relu = true;
  } else if (node.op === 'add') {
    return takeResidual(conv, node, k);
  } else {
    return false;
  }
  return true;
}

/** A binary conv takes, in its transform's order: an affine map, a residual, shifts, a PReLU (or ReLU), shifts. */
function absorbAfterBinary(conv: FusedConv & { op: 'bconv' }, node: Follower, k: number, options: FuseOptions): boolean {
  const activated = conv.alpha !== null || conv.post !== null;
  if (node.op === 'add') return !activated && takeResidual(conv, node, k);
  if (!options.binaryPost) return false;
  if (node.op === 'relu' || node.op === 'prelu') {
    if (activated) return false;
    conv.alpha = node.op === 'prelu' ? node.alpha : new Float32Array(node.shape[0]);
    return true;
  }
  const shiftOnly = node.scale.every((v) => v === 1);
  if (activated) {
    if (!shiftOnly) return false;
    conv.post = addVectors(conv.post, node.shift);
  } else if (conv.residual) {
    if (!shiftOnly) return false;
    conv.bias = addVectors(conv.bias, node.shift);
  } else {
    // s·(m·acc + b) + t = (s·m)·acc + (s·b + t)
    conv.multiplier = Float32Array.from(conv.multiplier, (m, o) => m * node.scale[o]);
    conv.bias = Float32Array.from(node.shift, (t, o) => (conv.bias ? conv.bias[o] : 0) * node.scale[o] + t);
  }
  return true;
}

function takeResidual(conv: FusedConv, node: Follower & { op: 'add' }, k: number): boolean {
  const other = node.inputs[1 - k];
  if (conv.residual || other === node.inputs[k]) return false;
  conv.residual = other;
  return true;
}

/** a + b per channel (float64, rounded once); a may be absent (0). */
function addVectors(a: Float32Array | null, b: Float32Array): Float32Array {
  return Float32Array.from(b, (v, o) => (a ? a[o] : 0) + v);
}

export function isConv(node: FusedNode): node is FusedConv {
  return node.op === 'conv' || node.op === 'bconv';
}

/** conv then y·scale + shift per output channel → one conv with scaled weights and bias. */
function foldBatchNorm(conv: FusedConv & { op: 'conv' }, scale: Float32Array, shift: Float32Array): void {
  const outputs = scale.length;
  const per = conv.weights.length / outputs;
  const weights = new Float32Array(conv.weights.length);
  const bias = new Float32Array(outputs);
  for (let o = 0; o < outputs; o++) {
    for (let i = o * per; i < (o + 1) * per; i++) weights[i] = conv.weights[i] * scale[o];
    bias[o] = (conv.bias ? conv.bias[o] : 0) * scale[o] + shift[o];
  }
  conv.weights = weights;
  conv.bias = bias;
}
