/**
 * Load-time rewrites of a checked model, each exact in real arithmetic: a float conv absorbs the affine
 * map (batch norm, per-channel bias or scale) and the ReLU after it; a conv or binary conv absorbs the residual Add it alone feeds (the kernel
 * adds the other operand in its output transform). Identity nodes disappear. Plain data in, plain data out.
 */
import type { RuntimeModel, RuntimeNode } from './model.js';

type ConvNode = Extract<RuntimeNode, { op: 'conv' }>;
type BconvNode = Extract<RuntimeNode, { op: 'bconv' }>;

/** A conv or binary conv with what it absorbed. */
export type FusedConv = (ConvNode | BconvNode) & { residual: string | null; relu: boolean };
export type FusedNode = Exclude<RuntimeNode, ConvNode | BconvNode> | FusedConv;

export function fuse(model: RuntimeModel): FusedNode[] {
  const alias = new Map<string, string>();
  const resolve = (name: string) => alias.get(name) ?? name;
  const nodes: (FusedNode | null)[] = [];
  for (const node of model.nodes) {
    const inputs = node.inputs.map(resolve);
    if (node.op === 'identity' && node.output !== model.output.name) {
      alias.set(node.output, inputs[0]);
      continue;
    }
    nodes.push(node.op === 'conv' || node.op === 'bconv' ? { ...node, inputs, residual: null, relu: false } : { ...node, inputs });
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
    if (!node || (node.op !== 'affine' && node.op !== 'relu' && node.op !== 'add')) return;
    for (const [k, input] of node.inputs.entries()) {
      const at = producerIndex.get(input);
      const conv = at === undefined ? null : nodes[at];
      if (!conv || !isConv(conv) || count.get(input) !== 1 || conv.relu) continue;
      if (node.op === 'affine') {
        if (conv.op !== 'conv' || conv.residual) continue;
        foldBatchNorm(conv, node.scale, node.shift);
      } else if (node.op === 'relu') {
        if (conv.op !== 'conv') continue;
        conv.relu = true;
      } else {
        if (conv.residual) continue;
        const other = node.inputs[1 - k];
        if (other === input) continue;
        conv.residual = other;
      }
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
