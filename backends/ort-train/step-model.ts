/**
 * Builds the ONNX models the engine runs, from a checked graph:
 *
 * - `train`: forward in training mode, loss, backward, optimizer update. Parameters, optimizer slots
 *   and moving statistics come in as flat vectors and leave updated, so the host only swaps buffers;
 * - `gradients`: forward in training mode, loss and the flat gradient (no update), for tests;
 * - `predict`: inference-mode logits from the same flat vectors.
 *
 * Reverse mode is a tape: the forward pass emits each live node through the rule table and keeps its
 * backward closure; the backward pass visits nodes in reverse order, sums the gradient contributions of
 * every consumer of a value (residual and fractal branches), and calls the closure.
 */
import { dispatch, type Graph, type GraphNode, type ParamSpec } from '../../src/graph/types.js';
import { LOWERINGS } from '../onnx/lower.js';
import { foldableBatchNorms } from '../onnx/folds.js';
import type { OptimizerConfig } from '../../src/train/engine.js';
import { Emitter } from './emitter.js';
import { TrainingLowerCtx, trainingLowering } from './lowering.js';
import { flatLayout, type FlatLayout, type Placement } from './layout.js';
import { trainingLoss } from './loss.js';
import { binaryVector, emitUpdate, slotNames } from './optimizer.js';
import { FlatParams } from './quantizers.js';
import { emitNode, perChannel, type Emitted, type Gradients, type RuleContext } from './rules.js';

export type StepKind = 'train' | 'gradients' | 'predict';

/** Names of the step models' inputs and outputs. */
export const IO = {
  x: 'x',
  labels: 'labels',
  /** The teacher's logits `[N, classes]` (distillation only). */
  teacher: 'teacher_logits',
  params: 'params',
  state: 'state',
  lr: 'lr',
  corrections: ['bias_correction1', 'bias_correction2'] as const,
  loss: 'loss',
  /** The mean KL(teacher ‖ student) (distillation only). */
  distillation: 'distillation',
  correct: 'correct',
  logits: 'logits',
  grads: 'grads',
  paramsOut: 'params_out',
  stateOut: 'state_out',
  slot: (slot: string) => `slot_${slot}`,
  slotOut: (slot: string) => `slot_${slot}_out`,
  /** How many binary weights changed sign in the update (models with binary weights). */
  flips: 'flips',
  /** The drop-path or dropout mask of a node. */
  mask: (node: GraphNode) => `mask:${node.name}`,
} as const;

export interface StepModel {
  kind: StepKind;
  bytes: Uint8Array;
  layout: FlatLayout;
  /** Nodes whose mask the model reads (joins and dropouts on the live path), training kinds only. */
  maskedNodes: GraphNode[];
}

const BATCH = 'N';

/**
 * `distillWeight` (training kinds): the model reads the teacher's logits and adds w · KL(teacher ‖ student)
 * to the loss (loss.ts). `integer`: binary products on ±1 inputs as ConvInteger / MatMulInteger (lowering.ts;
 * the CPU's choice, default); off for execution providers without those operators (WebGPU). `nchwcBlock`:
 * the CPU's NCHWc channel block (nchwc.ts, `nchwcBlockSize()`) for onnxruntime's blocked convolutions
 * in the forward and backward passes (lowering.ts, spatial.ts); 0 (default) for plain operators only.
 * `cpuOps`: onnxruntime's CPU provider runs the model, com.microsoft's contributed operators included
 * (conv weight gradients as per-sample GEMMs by FusedMatMul, spatial.ts; default); off for others (WebGPU).
 * `trainingBatchNorm` (default `cpuOps`): batch norms take their batch statistics from the CPU provider's
 * `BatchNormalization` in training mode (rules.ts) rather than from reductions.
 */
export function buildStepModel(graph: Graph, kind: StepKind, optimizer?: OptimizerConfig, distillWeight?: number, integer = true, nchwcBlock = 0, cpuOps = true, trainingBatchNorm = cpuOps): StepModel {
  const layout = flatLayout(graph);
  const e = new Emitter(`${graph.name}_${kind}`);
  const training = kind !== 'predict';
  const nodes = graph.nodes;

  const x = e.input(IO.x, 'float32', [BATCH, ...graph.input]);
  const params = layout.trainableSize > 0 ? e.input(IO.params, 'float32', [layout.trainableSize]) : null;
  const state = layout.stateSize > 0 ? e.input(IO.state, 'float32', [layout.stateSize]) : null;
  const labels = training ? e.input(IO.labels, 'int64', [BATCH]) : null;

  let batchSize: string | null = null;
  const getBatchSize = () =>
    (batchSize ??= e.op('Cast', [e.op('Gather', [e.op('Shape', [x]), e.i64Scalar(0)], { axis: 0 })], { to: 1 }, { hint: 'batch_size' }));

  // Views of the flat vectors, one per parameter and shape, made on first use.
  const placements = new Map<string, { placement: Placement; vector: string }>();
  for (const p of layout.trainable) if (params) placements.set(p.spec.name, { placement: p, vector: params });
  for (const p of layout.state) if (state) placements.set(p.spec.name, { placement: p, vector: state });
  const views = new Map<string, string>();
  const view = (spec: ParamSpec, dims: readonly number[] = spec.shape): string => {
    const key = `${spec.name}:${dims.join('x')}`;
    let v = views.get(key);
    if (v === undefined) {
      const entry = placements.get(spec.name);
      if (!entry) throw new Error(`internal: no parameter '${spec.name}'`);
      const { placement: pl, vector } = entry;
      const flat = e.op('Slice', [vector, e.i64([pl.offset]), e.i64([pl.offset + pl.size]), e.i64([0])], {}, { hint: `${spec.name}/flat` });
      v = e.op('Reshape', [flat, e.i64(dims)], {}, { hint: spec.name });
      views.set(key, v);
    }
    return v;
  };

  // The forward pass is the exporter's lowering, reading parameters from the flat vectors.
  const flatParams = new FlatParams(e, view);
  // Inference (`predict`) folds batch norms into float convs as the exporter does; training cannot.
  const bnFolds = training ? new Map() : foldableBatchNorms(graph, { binaryLayers: false, floatConvs: true });
  const lower = new TrainingLowerCtx(e, flatParams, trainingLowering(integer), { graph, input: x, bnFolds }, nchwcBlock);
  const values = lower.values;
  const live = liveNodes(graph);
  const wantsGrad = training ? gradientNodes(graph, live) : new Array<boolean>(nodes.length).fill(false);
  const emitted: (Emitted | undefined)[] = new Array(nodes.length);
  const newState = new Map<string, string>();
  const maskedNodes: GraphNode[] = [];

  for (const node of nodes) {
    if (!live[node.id]) continue;
    const spec = (role: string) => lower.spec(node, role);
    let forward: string | undefined;
    const ctx: RuleContext = {
      e,
      training,
      inputs: node.op === 'input' ? [x] : node.inputs.map((i) => values[i]),
      inputShapes: node.op === 'input' ? [graph.input] : node.inputs.map((i) => nodes[i].shape),
      forward: () => (forward ??= dispatch(LOWERINGS, node, lower)),
      kernel: (role) => flatParams.kernels.get(spec(role).name),
      wantsGrad: (i) => wantsGrad[node.inputs[i]],
      trains: (role) => training && node.params.some((p) => p.role === role && p.trainable),
      param: (role, dims) => view(spec(role), dims),
      setState: (role, value) => newState.set(spec(role).name, value),
      mask: () => {
        if (e.graph.has(IO.mask(node))) return IO.mask(node);
        maskedNodes.push(node);
        const dims = node.op === 'join' ? [node.inputs.length] : [BATCH, ...node.shape];
        return e.input(IO.mask(node), 'float32', dims);
      },
      batchSize: getBatchSize,
      nchwcBlock,
      cpuOps,
      trainingBatchNorm,
    };
    const out = emitNode(node, ctx);
    values[node.id] = out.output;
    emitted[node.id] = out;
  }

  const logits = values[graph.output];
  if (kind === 'predict') {
    e.op('Identity', [logits], {}, { out: IO.logits });
    e.output(IO.logits, 'float32', [BATCH, graph.classes]);
    return { kind, bytes: e.encode(`${graph.name}: inference logits from flat parameters`), layout, maskedNodes };
  }

  const teacher = distillWeight !== undefined ? { logits: e.input(IO.teacher, 'float32', [BATCH, graph.classes]), weight: distillWeight } : undefined;
  const loss = trainingLoss(e, logits, labels!, graph.classes, getBatchSize(), teacher);
  const paramGrads = backward(e, graph, live, wantsGrad, emitted, loss.dLogits);
  const grads = layout.trainableSize > 0 ? flatGradient(e, layout, paramGrads, kind === 'gradients' ? IO.grads : undefined) : null;

  e.op('Identity', [loss.loss], {}, { out: IO.loss });
  e.output(IO.loss, 'float32', []);
  if (loss.distillation) {
    e.op('Identity', [loss.distillation], {}, { out: IO.distillation });
    e.output(IO.distillation, 'float32', []);
  }
  if (kind === 'gradients') {
    if (grads) e.output(IO.grads, 'float32', [layout.trainableSize]);
    return { kind, bytes: e.encode(`${graph.name}: loss gradients`), layout, maskedNodes };
  }

  e.op('Identity', [loss.correct], {}, { out: IO.correct });
  e.output(IO.correct, 'float32', []);
  if (state) {
    const parts = layout.state.map((p) => {
      const value = newState.get(p.spec.name);
      return value === undefined ? e.op('Reshape', [view(p.spec), e.i64([-1])]) : e.op('Reshape', [value, e.i64([-1])]);
    });
    e.op('Concat', parts, { axis: 0 }, { out: IO.stateOut });
    e.output(IO.stateOut, 'float32', [layout.stateSize]);
  }
  if (params && grads) {
    if (!optimizer) throw new Error('internal: a train step needs an optimizer');
    const slots = slotNames(optimizer);
    const lr = e.input(IO.lr, 'float32', []);
    const corrections =
      optimizer.name !== 'sgd' ? ([e.input(IO.corrections[0], 'float32', []), e.input(IO.corrections[1], 'float32', [])] as [string, string]) : undefined;
    const flips = binaryVector(layout) ? IO.flips : undefined;
    const slotInputs = Object.fromEntries(slots.map((s) => [s, e.input(IO.slot(s), 'float32', [layout.trainableSize])]));
    emitUpdate(e, graph, layout, optimizer, { params, grads, lr, slots: slotInputs, corrections }, {
      params: IO.paramsOut,
      slots: Object.fromEntries(slots.map((s) => [s, IO.slotOut(s)])),
      ...(flips ? { flips } : {}),
    });
    e.output(IO.paramsOut, 'float32', [layout.trainableSize]);
    if (flips) e.output(IO.flips, 'float32', []);
    for (const s of slots) e.output(IO.slotOut(s), 'float32', [layout.trainableSize]);
  }
  return { kind, bytes: e.encode(`${graph.name}: one training step (${optimizer?.name})`), layout, maskedNodes };
}

/** Nodes the output depends on. */
function liveNodes(graph: Graph): boolean[] {
  const live = new Array<boolean>(graph.nodes.length).fill(false);
  live[graph.output] = true;
  for (let id = graph.output; id >= 0; id--) if (live[id]) for (const i of graph.nodes[id].inputs) live[i] = true;
  return live;
}

/** Nodes whose output gradient is needed: those downstream of a trainable parameter. */
function gradientNodes(graph: Graph, live: boolean[]): boolean[] {
  const wants = new Array<boolean>(graph.nodes.length).fill(false);
  for (const node of graph.nodes) {
    if (!live[node.id]) continue;
    wants[node.id] = node.params.some((p) => p.trainable) || node.inputs.some((i) => wants[i]);
  }
  return wants;
}

/** One contribution to a value's gradient: `value · scale` (per channel along axis 1) when scaled. */
interface Contribution {
  value: string;
  scale: string | null;
}

/** Runs the tape backwards; returns each trainable parameter's gradient value by name. */
function backward(e: Emitter, graph: Graph, live: boolean[], wants: boolean[], emitted: (Emitted | undefined)[], dLogits: string): Map<string, string> {
  const contributions = new Map<number, Contribution[]>([[graph.output, [{ value: dLogits, scale: null }]]]);
  const paramGrads = new Map<string, string>();
  for (let id = graph.nodes.length - 1; id >= 0; id--) {
    const node = graph.nodes[id];
    const parts = contributions.get(id);
    contributions.delete(id);
    const rule = emitted[id];
    if (!live[id] || !wants[id] || !parts || !rule?.backward) continue;
    const run = rule.backward;
    e.scoped(`${node.name}/grad`, () => {
      const rank = node.shape.length;
      const materialise = (c: Contribution) => (c.scale === null ? c.value : e.op('Mul', [c.value, perChannel(e, c.scale, rank)], {}, { hint: 'dyscaled' }));
      let grads: Gradients;
      if (parts.length === 1 && parts[0].scale !== null && rule.foldsScale) {
        grads = run(parts[0].value, parts[0].scale);
      } else {
        const values = parts.map(materialise);
        grads = run(values.length === 1 ? values[0] : e.op('Sum', values, {}, { hint: 'dy' }));
      }
      grads.inputs?.forEach((g, i) => {
        if (g === null || !wants[node.inputs[i]]) return;
        const list = contributions.get(node.inputs[i]) ?? [];
        list.push({ value: g, scale: grads.inputScales?.[i] ?? null });
        contributions.set(node.inputs[i], list);
      });
      for (const [role, g] of Object.entries(grads.params ?? {})) {
        const p = node.params.find((q) => q.role === role)!;
        paramGrads.set(p.name, g);
      }
    });
  }
  return paramGrads;
}

/** Concatenates the parameter gradients in layout order; parameters off the live path get zeros. */
function flatGradient(e: Emitter, layout: FlatLayout, grads: Map<string, string>, out?: string): string {
  const parts = layout.trainable.map((p) => {
    const g = grads.get(p.spec.name);
    return g === undefined ? e.tensor([p.size], new Float32Array(p.size), 'nograd') : e.op('Reshape', [g, e.i64([-1])]);
  });
  return e.op('Concat', parts, { axis: 0 }, out ? { out } : { hint: 'grads' });
}
