/**
 * Load-time rewrites of a checked model, each exact in real arithmetic: a float conv absorbs the affine
 * map (batch norm, per-channel bias or scale) and the ReLU after it; a conv or binary conv absorbs the
 * residual Add it alone feeds (the kernel adds the other operand in its output transform; of a binary and a
 * float conv, the binary one, whose transform also packs the next signs). With
 * `binaryPost` (the kernels have sofar_bconv2d_prepacked_post) a binary conv also absorbs what ReActNet
 * puts after it: an affine map before the residual (into multiplier and bias), shifts after it (into the
 * bias), a PReLU or ReLU, and shifts after that (`post`), so a block's RPReLU and the next RSign's shift
 * run in the conv, whose sign packing then feeds the next binary conv. With `epilogue` (the kernels have
 * sofar_bconv2d_epilogue) the chain after the activation may also hold a full affine map and then the
 * residual (QuickNet's conv → ReLU → BN → add). A per-channel op after a channel concat whose branches
 * are read only by it moves into the branches (each takes its channels' slice of the parameters), where
 * the branches' convs absorb it (ReActNet's RPReLU after its two 1×1 convs). With `epilogue`, a binary conv
 * whose output is zero-padded along channels and added to a map x (MeliusNet's improvement block: the ONNX
 * form of add_into) adds itself into its window of x's channels in place (`into`), when nothing reads x after
 * it; and with `dynamicScale` (batch 1) a binary conv times a per-sample channel vector takes the vector as its
 * multiplier (`scaleBy`: Real-to-Binary Net's squeeze-and-excite gate). Identity nodes disappear. Plain data
 * in, plain data out.
 */
import type { RuntimeModel, RuntimeNode } from './model.js';

type ConvNode = Extract<RuntimeNode, { op: 'conv' }>;
type BconvNode = Extract<RuntimeNode, { op: 'bconv' }>;

/**
 * A conv or binary conv with what it absorbed: out = postScale·prelu_alpha(conv + residual) + post, or with
 * `residualAfter` out = postScale·prelu_alpha(conv) + post + residual (postScale absent: 1); relu for float convs.
 */
export type FusedConv = (ConvNode | BconvNode) & {
  residual: string | null;
  /** A binary conv's second residual, added right after the first (a fractal join's sum so far: joinsIntoConvs). */
  residual2: string | null;
  /**
   * Set: the conv's output is its residual x with channels [offset, offset + channels) replaced by x's plus the
   * conv's, computed in x's buffer (the node's shape is x's; the conv's own channels are `channels`).
   */
  into: { offset: number; channels: number } | null;
  /**
   * A per-sample channel vector the conv's output is multiplied by (Real-to-Binary Net's squeeze-and-excite
   * gate, a runtime value), taken as the conv's multiplier: the conv's own multiplier was 1 and its bias 0.
   */
  scaleBy: string | null;
  residualAfter: boolean;
  relu: boolean;
  alpha: Float32Array | null;
  postScale: Float32Array | null;
  post: Float32Array | null;
};
export type FusedNode = Exclude<RuntimeNode, ConvNode | BconvNode> | FusedConv;

export interface FuseOptions {
  /** The binary conv's output transform takes PReLU and a shift after the residual. */
  binaryPost?: boolean;
  /** It also takes a full affine map after the activation, and the residual after that. */
  epilogue?: boolean;
  /**
   * With `epilogue`, at batch 1: a binary conv takes a product with a per-sample channel vector as its
   * multiplier (one vector for the whole call, so one sample a call).
   */
  dynamicScale?: boolean;
  /** With `epilogue`: a mean or sum whose operands are binary convs is computed by the convs (joinsIntoConvs); default true. */
  joins?: boolean;
  /** A max pool of a batch norm with positive scales runs before it (poolBeforeAffine); default true. */
  maxPoolFirst?: boolean;
  /** With `joins`: the kernels add a second residual (sofar_bconv2d_epilogue_res2), so convs with a shortcut join too. */
  residual2?: boolean;
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
    nodes.push(node.op === 'conv' || node.op === 'bconv' ? { ...node, inputs, residual: null, residual2: null, into: null, scaleBy: null, residualAfter: false, relu: false, alpha: null, postScale: null, post: null } : { ...node, inputs });
  }
  if (options.epilogue) distributeOverConcats(nodes, model.output.name);

  // Readers of each value. A merge keeps every other value's count: the merged node's operands are
  // read by the conv instead, and the conv's own output disappears.
  const count = new Map<string, number>();
  for (const n of nodes) if (n) for (const i of n.inputs) count.set(i, (count.get(i) ?? 0) + 1);
  count.set(model.output.name, (count.get(model.output.name) ?? 0) + 1);
  const producerIndex = new Map<string, number>();
  nodes.forEach((n, i) => n && producerIndex.set(n.output, i));

  // Each pass merges a node into the conv before it, when the conv's output has no other reader.
  nodes.forEach((node, i) => {
    if (!node || !(node.op === 'affine' || node.op === 'relu' || node.op === 'prelu' || node.op === 'add' || node.op === 'mul_channels')) return;
    for (const k of operandOrder(node, nodes, producerIndex)) {
      const input = node.inputs[k];
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
  poolBeforeAffine(nodes, model.output.name, options.maxPoolFirst !== false);
  if (options.epilogue && options.joins !== false) joinsIntoConvs(nodes, model.output.name, options.residual2 === true);
  if (options.epilogue) addIntoInPlace(nodes, model);
  return nodes.filter((n): n is FusedNode => n !== null);
}

/**
 * join(x0, x1, …, xk) → a chain of the binary convs that compute x1 … xk, each adding the sum so far as its
 * residual (x1's conv adds x0, x2's adds that sum, …), the last one also scaled by a mean's 1/(k+1) and
 * computing the join's output: DRF's fractal joins. A conv that already adds its unit's shortcut (RF's
 * columns) adds the sum as its second residual, right after the shortcut (withResidual2: the kernels have
 * it). The chain adds in the join's own order, ((x0 + x1) + x2)·s, where xi = bn + shortcut is rounded as
 * the column's own map would be, so its floats are the join's (a sum that is −0 comes out +0: the transform's
 * scale adds a zero shift). No pass over the operands, and no map of each conv's own. Each of x1 … xk must
 * be a binary conv that only the join reads, with nothing absorbed after its batch norm but a shortcut added
 * before any activation; x0 may be anything, and trades places with x1 where only x1 is not such a conv (the
 * first sum commutes). The convs move to the join's place, after every operand.
 */
function joinsIntoConvs(nodes: (FusedNode | null)[], modelOutput: string, withResidual2: boolean): void {
  for (let i = 0; i < nodes.length; i++) {
    const join = nodes[i];
    if (join?.op !== 'join' || join.mode === 'max' || join.inputs.length < 2 || new Set(join.inputs).size !== join.inputs.length) continue;
    const { at, readers } = indexOf(nodes);
    const plainConv = (name: string) => {
      const conv = nodes[at.get(name) ?? -1];
      if (conv?.op !== 'bconv' || name === modelOutput || readers.get(name)?.length !== 1) return null;
      const shortcut = conv.residual !== null && (!withResidual2 || conv.residualAfter || conv.residual2 !== null);
      const absorbed = shortcut || conv.into || conv.scaleBy || conv.relu || conv.alpha || conv.post || conv.postScale;
      return absorbed ? null : conv;
    };
    const [a, b, ...rest] = join.inputs;
    const order = plainConv(a) && !plainConv(b) ? [b, a, ...rest] : join.inputs;
    const convs = order.slice(1).map(plainConv);
    if (!convs.every((c) => c !== null)) continue;
    let sum = order[0];
    const chain = convs.map((conv, j): FusedConv => {
      const last = j === convs.length - 1;
      const output = last ? join.output : `${join.output}@sum${j + 1}`;
      const postScale = last && join.mode === 'mean' ? new Float32Array(join.shape[0]).fill(1 / join.inputs.length) : null;
      const added = conv!.residual === null ? { residual: sum } : { residual2: sum };
      const fused = { ...conv!, ...added, output, shape: join.shape, name: `${conv!.name}+${join.name}`, postScale };
      sum = output;
      return fused;
    });
    for (const name of order.slice(1)) nodes[at.get(name)!] = null;
    nodes.splice(i, 1, ...chain);
    i += chain.length - 1;
  }
}

/**
 * add(x, pad(conv)) → conv into x: a binary conv read only by a channel pad read only by an add, with nothing
 * absorbed after it, takes x as its residual and writes its channels' window of x in place. x must be a stored
 * map (not the model's input or output) whose other readers all end in this conv (its batch norm and sign):
 * no step reads x after the conv has changed it.
 */
function addIntoInPlace(nodes: (FusedNode | null)[], model: RuntimeModel): void {
  const { at, readers } = indexOf(nodes);
  const soleReader = (name: string) => (readers.get(name)?.length === 1 && name !== model.output.name ? readers.get(name)![0] : undefined);
  const isNormOrSign = (n: FusedNode) => (n.op === 'affine' || n.op === 'sign') && n.output !== model.output.name;
  // every reader of `name` is node `target`, or a batch norm or sign whose readers all are, in turn
  const feedsOnly = (name: string, target: number): boolean =>
    (readers.get(name) ?? []).every((r) => r === target || (isNormOrSign(nodes[r]!) && feedsOnly(nodes[r]!.output, target)));
  nodes.forEach((add, i) => {
    if (add?.op !== 'add' || add.inputs[0] === add.inputs[1]) return;
    for (const k of [0, 1]) {
      const pad = nodes[at.get(add.inputs[k]) ?? -1];
      if (pad?.op !== 'pad' || soleReader(pad.output) !== i) continue;
      const c = at.get(pad.inputs[0]);
      const conv = nodes[c ?? -1];
      if (conv?.op !== 'bconv' || soleReader(conv.output) !== at.get(pad.output)) continue;
      if (conv.residual || conv.scaleBy || conv.relu || conv.alpha || conv.post || conv.postScale) continue;
      const x = add.inputs[1 - k];
      // x's buffer is its own: not the input, the output, or a view of another value (a reshape, a pool written by its conv)
      const producer = nodes[at.get(x) ?? -1];
      if (!producer || producer.op === 'reshape' || producer.op === 'avgpool' || x === model.output.name) continue;
      if (!(readers.get(x) ?? []).every((r) => r === i || (isNormOrSign(nodes[r]!) && feedsOnly(nodes[r]!.output, c!)))) continue;
      nodes[c!] = null;
      nodes[at.get(pad.output)!] = null;
      nodes[i] = { ...conv, residual: x, into: { offset: pad.before, channels: conv.shape[0] }, output: add.output, shape: add.shape, name: `${conv.name}+${add.name}` };
      return;
    }
  });
}

type Follower = Extract<FusedNode, { op: 'affine' | 'relu' | 'prelu' | 'add' | 'mul_channels' }>;

/**
 * The operands an op tries to merge into, in turn: a join of a binary and a float conv (Bi-Real's downsampling
 * shortcut) goes into the binary conv, whose output transform also packs the signs the next binary conv reads
 * (the float conv cannot: a packing step would follow). Float addition commutes, so the sum is the same either
 * way, bit for bit.
 */
function operandOrder(node: Follower, nodes: (FusedNode | null)[], producerIndex: Map<string, number>): number[] {
  const order = node.inputs.map((_, k) => k);
  if (node.op !== 'add') return order;
  const binary = (k: number) => nodes[producerIndex.get(node.inputs[k]) ?? -1]?.op === 'bconv';
  return order.sort((a, b) => Number(binary(b)) - Number(binary(a)));
}

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

/**
 * (m·acc + b)·s with m = 1 and b = 0 is acc·s: the vector s becomes the multiplier, read at run time. Only
 * the map's operand (k = 0), before anything else is absorbed.
 */
function takeScale(conv: FusedConv & { op: 'bconv' }, node: Follower & { op: 'mul_channels' }, k: number): boolean {
  if (k !== 0 || conv.residual || conv.scaleBy || conv.into || node.inputs[1] === node.inputs[0]) return false;
  if (!conv.multiplier.every((m) => m === 1) || (conv.bias && !conv.bias.every((b) => b === 0))) return false;
  conv.scaleBy = node.inputs[1];
  conv.bias = null;
  return true;
}

/**
 * A binary conv takes, in its transform's order: an affine map, a residual, shifts, a PReLU (or ReLU),
 * affine maps (shifts only without `epilogue`), and with `epilogue` the residual here if not taken before.
 */
function absorbAfterBinary(conv: FusedConv & { op: 'bconv' }, node: Follower, k: number, options: FuseOptions): boolean {
  const activated = conv.alpha !== null || conv.post !== null || conv.postScale !== null;
  if (conv.residualAfter) return false;
  if (node.op === 'mul_channels') return Boolean(options.epilogue && options.dynamicScale) && !activated && takeScale(conv, node, k);
  if (node.op === 'add') {
    if (!activated) return takeResidual(conv, node, k);
    if (!options.epilogue || !takeResidual(conv, node, k)) return false;
    conv.residualAfter = true;
    return true;
  }
  if (!options.binaryPost) return false;
  if (node.op === 'relu' || node.op === 'prelu') {
    if (activated) return false;
    conv.alpha = node.op === 'prelu' ? node.alpha : new Float32Array(node.shape[0]);
    return true;
  }
  const shiftOnly = node.scale.every((v) => v === 1);
  if (activated) {
    if (shiftOnly) {
      conv.post = addVectors(conv.post, node.shift);
    } else {
      if (!options.epilogue) return false;
      // s·(p·v + t) + u = (s·p)·v + (s·t + u)
      const [p, t] = [conv.postScale, conv.post];
      conv.postScale = Float32Array.from(node.scale, (v, o) => (p ? p[o] : 1) * v);
      conv.post = Float32Array.from(node.shift, (u, o) => (t ? t[o] : 0) * node.scale[o] + u);
    }
  } else if (conv.scaleBy) {
    return false; // the multiplier is the run-time vector: an affine map cannot fold into it
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

/**
 * concat(a, b, …) → f  ⇒  concat(f_a(a), f_b(b), …) for a per-channel f (affine, ReLU, PReLU) that alone
 * reads the concat, whose branches the concat alone reads: each branch's conv can then absorb its part.
 * Repeats along a chain (concat → shift → PReLU → shift). The parts run just before the concat.
 */
function distributeOverConcats(nodes: (FusedNode | null)[], modelOutput: string): void {
  const readers = new Map<string, number>();
  for (const n of nodes) if (n) for (const i of n.inputs) readers.set(i, (readers.get(i) ?? 0) + 1);
  readers.set(modelOutput, (readers.get(modelOutput) ?? 0) + 1);
  const producers = new Map<string, { node: FusedNode; at: number }>();
  nodes.forEach((n, at) => n && producers.set(n.output, { node: n, at }));
  const branchOps = new Set(['bconv', 'conv', 'affine', 'relu', 'prelu', 'add']);
  for (let i = 0; i < nodes.length; i++) {
    const f = nodes[i];
    if (!f || !(f.op === 'affine' || f.op === 'relu' || f.op === 'prelu')) continue;
    const concat = producers.get(f.inputs[0]);
    if (!concat || concat.node.op !== 'concat' || readers.get(concat.node.output) !== 1) continue;
    const branches = concat.node.inputs.map((input) => producers.get(input));
    if (new Set(concat.node.inputs).size !== concat.node.inputs.length) continue;
    if (!branches.every((b, j) => b && branchOps.has(b.node.op) && readers.get(concat.node.inputs[j]) === 1)) continue;
    let channel = 0;
    const parts = branches.map((b, j): FusedNode => {
      const width = b!.node.shape[0];
      const slice = (v: Float32Array) => v.slice(channel, channel + width);
      const part = { ...f, name: `${f.name}@${j}`, output: `${f.output}@${j}`, inputs: [concat.node.inputs[j]], shape: b!.node.shape } as FusedNode;
      if (part.op === 'affine' && f.op === 'affine') Object.assign(part, { scale: slice(f.scale), shift: slice(f.shift) });
      if (part.op === 'prelu' && f.op === 'prelu') part.alpha = slice(f.alpha);
      channel += width;
      return part;
    });
    // The concat now computes f's output, from the parts, at its own place; the parts go just before it.
    const merged = { ...concat.node, inputs: parts.map((p) => p.output), output: f.output, name: `${concat.node.name}+${f.name}` } as FusedNode;
    nodes.splice(i, 1);
    nodes.splice(concat.at, 1, ...parts, merged);
    for (const p of parts) readers.set(p.output, 1);
    producers.clear();
    nodes.forEach((n, at) => n && producers.set(n.output, { node: n, at }));
  }
}

/**
 * global_avgpool(affine(x)) → affine(global_avgpool(x)): the mean of a·x + b is a·mean(x) + b, so the pool reads
 * x and the affine map runs on the pooled vector. A batch norm read by a pool and by a sign (Real-to-Binary
 * Net's gate beside its binary conv) is then read only through the sign, whose packing applies it: no pass
 * that stores the normalised map. A map the pool alone read goes. After the convs' merges: an affine map a
 * conv took into its output transform costs no pass already.
 *
 * maxpool(affine(x)) → affine(maxpool(x)) where every scale is positive and the pool alone reads the map: with
 * a > 0, fl(a·x + b) never decreases as x grows, so a window's largest map is the map of its largest x, bit for
 * bit (padded cells win neither max). DenseNets' transitions (batch norm → max pool → ReLU → 1×1 conv) then
 * normalise the pooled quarter of the concatenation instead of all of it. A negative scale would turn the max
 * into a min: such a model keeps its order.
 */
function poolBeforeAffine(nodes: (FusedNode | null)[], modelOutput: string, maxPools: boolean): void {
  for (let i = 0; i < nodes.length; i++) {
    const pool = nodes[i];
    if (pool?.op !== 'global_avgpool' && !(maxPools && pool?.op === 'maxpool')) continue;
    const { at, readers } = indexOf(nodes);
    const a = at.get(pool.inputs[0]);
    const affine = nodes[a ?? -1];
    if (affine?.op !== 'affine' || affine.output === modelOutput) continue;
    if (pool.op === 'maxpool' && !(readers.get(affine.output)?.length === 1 && affine.scale.every((s) => s > 0))) continue;
    const pooled = `${pool.output}@before-${affine.name}`;
    if (readers.get(affine.output)?.length === 1) nodes[a!] = null; // the pool was its only reader
    nodes.splice(i, 1,
      { ...pool, name: `${pool.name}@before-${affine.name}`, inputs: [affine.inputs[0]], output: pooled },
      { ...affine, name: `${affine.name}@pooled`, inputs: [pooled], output: pool.output, shape: pool.shape },
    );
    i++;
  }
}

/** The values a node reads: its inputs, and a conv's residuals. */
export function valuesRead(n: FusedNode): string[] {
  if (!isConv(n)) return n.inputs;
  return [...n.inputs, ...(n.residual ? [n.residual] : []), ...(n.residual2 ? [n.residual2] : [])];
}

/** Where each value is computed (its node's index), and the indices of the nodes that read it (a conv's residuals too). */
function indexOf(nodes: (FusedNode | null)[]): { at: Map<string, number>; readers: Map<string, number[]> } {
  const at = new Map<string, number>();
  const readers = new Map<string, number[]>();
  nodes.forEach((n, i) => {
    if (!n) return;
    at.set(n.output, i);
    for (const input of valuesRead(n)) readers.set(input, [...(readers.get(input) ?? []), i]);
  });
  return { at, readers };
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
