/**
 * onnxruntime's WebGPU execution provider: the session options that select it, and the rewrite every
 * model gets before it runs there.
 *
 * Why the rewrite (measured with onnxruntime-node 1.23.2 on Dawn/Mesa llvmpipe; docs/training.md, Known issues):
 * the provider prefers NHWC, so ORT's layout transformer turns each Conv into its NHWC kernel and moves
 * the inserted Transposes up the graph. Past a `GreaterOrEqual` or `LessOrEqual` a Transpose lands on a
 * bool tensor, for which the provider has no kernel, and ORT then keeps that Conv in NCHW. The provider's
 * NCHW Conv is wrong whenever the output has more channels than pixels (O > H_out·W_out): only the first
 * H_out·W_out output channels are computed, the rest are zero. Bi-Real's strided binary convs hit it
 * (64 → 128 channels onto 7×7). The NHWC kernel is exact on the same adapter, so the fix is to keep the
 * Transposes off bool tensors: `a ≥ b` becomes `not (a < b)` and `a ≤ b` becomes `not (a > b)`, which
 * the provider runs and the transformer passes through. The two differ only on NaN (which compares
 * false either way, so the rewritten test says true), and a NaN in training is lost anyway.
 *
 * The provider also has no kernel for the variadic `Sum`, `Min` and `Max`, which the training steps use
 * for residual gradients and kernel clipping: each would run on the CPU with a copy of its operands
 * there and back (ORT's verbose log lists them). They become chains of binary `Add`, and `Where` over a
 * comparison (NaN again aside), which it runs.
 *
 * And it claims `MaxPool` with its second output (the argmax indices, which the training steps use for
 * overlapping windows) but then fails at run time ("The Indices output is not supported yet"): those
 * nodes are named to it in `forceCpuNodeNames`, so they run on the CPU.
 */
import { onnx, type ModelProto, type NodeProto } from './proto.js';


/** `a ≥ b` ≡ `not (a < b)`, `a ≤ b` ≡ `not (a > b)` (except on NaN). */
const NEGATED: Record<string, string> = { GreaterOrEqual: 'Less', LessOrEqual: 'Greater' };

/** Variadic operators → the comparison (or `Add`) of their binary form. */
const VARIADIC: Record<string, string> = { Sum: 'Add', Min: 'Less', Max: 'Greater' };

/** The model with its comparisons written the way the WebGPU provider keeps its convolutions exact. */
export function rewriteForWebGpu(bytes: Uint8Array): Uint8Array {
  return forWebGpu(bytes).model;
}

/** What a session on the WebGPU provider opens: the rewritten model, and its providers' options. */
export interface WebGpuSession {
  model: Uint8Array;
  executionProviders: (string | { name: 'webgpu'; forceCpuNodeNames: string })[];
}

export function forWebGpu(bytes: Uint8Array): WebGpuSession {
  const model: ModelProto = onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  const cpuNodes = (graph?.node ?? []).filter((n) => !n.domain && n.opType === 'MaxPool' && (n.output ?? []).filter(Boolean).length > 1).map((n) => n.name ?? '');
  const executionProviders: WebGpuSession['executionProviders'] = [cpuNodes.length ? { name: 'webgpu', forceCpuNodeNames: cpuNodes.join('\n') } : 'webgpu', 'cpu'];
  return { model: rewriteNodes(model, bytes), executionProviders };
}

function rewriteNodes(model: ModelProto, bytes: Uint8Array): Uint8Array {
  const graph = model.graph;
  if (!graph?.node) return bytes;
  const original = graph.node;
  const taken = new Set<string>(original.flatMap((n) => [...(n.output ?? []), ...(n.input ?? [])]));
  const fresh = (base: string) => {
    let name = `${base}/webgpu`;
    for (let k = 1; taken.has(name); k++) name = `${base}/webgpu_${k}`;
    taken.add(name);
    return name;
  };
  let changed = false;
  const nodes: NodeProto[] = [];
  for (const node of original) {
    const op = node.domain ? '' : (node.opType ?? '');
    const inputs = node.input ?? [];
    if (VARIADIC[op] && inputs.length >= 1) {
      changed = true;
      const output = node.output ?? [];
      if (inputs.length === 1) {
        nodes.push({ opType: 'Identity', name: node.name, input: inputs, output });
        continue;
      }
      // Left to right, as ORT's CPU kernels fold them: ((a ∘ b) ∘ c) ∘ ...
      let acc = inputs[0];
      for (let i = 1; i < inputs.length; i++) {
        const out = i === inputs.length - 1 ? output[0] : fresh(`${output[0]}/${i}`);
        const name = i === inputs.length - 1 ? (node.name ?? out) : `${node.name}/${i}`;
        if (op === 'Sum') {
          nodes.push({ opType: 'Add', name, input: [acc, inputs[i]], output: [out] });
        } else {
          // Min keeps a where a < b, Max where a > b; otherwise b.
          const keepA = fresh(`${out}/keep`);
          nodes.push({ opType: VARIADIC[op], name: `${name}/compare`, input: [acc, inputs[i]], output: [keepA] });
          nodes.push({ opType: 'Where', name, input: [keepA, acc, inputs[i]], output: [out] });
        }
        acc = out;
      }
      continue;
    }
    const negated = NEGATED[op];
    if (!negated) {
      nodes.push(node);
      continue;
    }
    changed = true;
    const output = node.output ?? [];
    const opposite = fresh(output[0]);
    nodes.push(onnx.NodeProto.create({ opType: negated, name: `${node.name}/${negated.toLowerCase()}`, input: node.input, output: [opposite] }));
    nodes.push(onnx.NodeProto.create({ opType: 'Not', name: node.name, input: [opposite], output, docString: node.docString }));
  }
  if (!changed) return bytes;
  graph.node = nodes.map((n) => onnx.NodeProto.create(n));
  return onnx.ModelProto.encode(model);
}

/** Where a session runs: the CPU provider, or WebGPU with the CPU for the operators it lacks. */
export type OrtProvider = 'cpu' | 'webgpu';

/** A session's model and providers: as given on the CPU, rewritten (forWebGpu) on WebGPU. */
export function sessionModel(bytes: Uint8Array, provider: OrtProvider = 'cpu'): WebGpuSession {
  return provider === 'webgpu' ? forWebGpu(bytes) : { model: bytes, executionProviders: ['cpu'] };
}
