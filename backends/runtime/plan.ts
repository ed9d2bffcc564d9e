/**
 * Fused nodes → a plan: the kernel calls of one inference for up to `batch` samples, and the arena they
 * run in. Plain data: each step names a kernel and its arguments, with buffers as byte offsets.
 *
 * - Activations are NHWC (the model's NCHW input and output are converted at the boundary).
 * - A sign feeding binary layers is never stored as floats: its input is packed 1 bit per channel,
 *   inside the binary conv that produces it when there is one (output transform fused with packing).
 * - A conv whose only reader is a channel concat writes straight into its slice of the concat.
 * - Buffers live from their first write to their last read, and share memory when their lives do
 *   not overlap (the place of the latest dead buffer of the same size, else first fit); weights stay for
 *   the life of the runtime.
 */
import type { KernelSet } from './kernels.js';
import type { RuntimeModel, Shape, Window } from './model.js';
import { fuse, isConv, valuesRead, type FusedConv, type FusedNode } from './fuse.js';

/** A buffer of the arena; its offset is fixed once every buffer's life is known. */
interface Region {
  bytes: number;
  /** The bytes in use, before alignment. */
  size: number;
  /** Weights live for the runtime's life; staging holds raw weights at load time, in activation space. */
  kind: 'weight' | 'activation' | 'staging';
  /** Index of the first and last step that touch it (activations). */
  first: number;
  last: number;
  offset: number;
  /** The region whose bytes this one takes, its writer's input read there last (see findInPlaceOutputs). */
  inPlaceOf?: Region;
}

/** A kernel argument: a number, or a byte offset into a region (resolved when the arena is laid out). */
type Arg = number | { region: Region; at: number } | null;

interface Call {
  kernel: KernelName;
  args: Arg[];
  /** A binary conv's parts: its kernel and arguments are chosen once the plan knows everything it packs. */
  bconv?: BconvParts;
}

/** A binary conv call before its kernel is chosen (a sign packing, with or without a threshold, may attach later). */
interface BconvParts {
  node: FusedNode & { op: 'bconv' };
  x: Arg;
  kernel: Arg;
  residual: Arg;
  residualStride: number;
  /** A second residual map, added right after the first (sofar_bconv2d_epilogue_res2: a fractal join's sum so far). */
  residual2: Arg;
  residual2Stride: number;
  y: Arg;
  yStride: number;
  geometry: number[];
  yPacked: Arg;
  packGroups: number;
  /** Words per pixel of the packed map written (0: the conv's own; wider when it packs a slice of a concat). */
  packStride: number;
  /** The packed signs are those of y·scale + shift (the next RSign's threshold, a batch norm). */
  packAffine: { scale: Float32Array; shift: Float32Array } | null;
  /**
   * A second packing in the same pass (sofar_bconv2d_epilogue_pack2): the signs of x's rows (y itself, or
   * the whole concat y is the last slice of) times scale plus shift, into y, one group.
   */
  pack2: { x: Arg; channels: number; xStride: number; scale: Float32Array | null; shift: Float32Array | null; y: Arg } | null;
  /** The residual is the 2×2 /2 average pool of an input-sized map, pooled by the conv (SOFAR_EPI_RESIDUAL_POOL2). */
  residualPool: boolean;
  /** y is the 2×2 /2 average pool of the output, its full-size floats never stored (SOFAR_EPI_POOL2_OUT). */
  poolOut: boolean;
  /** The packed signs go into half of each word, the other half another conv's (SOFAR_EPI_PACK_LOW32, _HIGH32). */
  packHalf: 'low' | 'high' | null;
  /**
   * For a conv scaled by a run-time vector (fuse's scaleBy): its parameter vectors' region, the multiplier
   * first, which a step before the conv fills with the vector; the rest are constants.
   */
  scaledParams: Region | null;
}

export type KernelName =
  | 'packSigns' | 'packSignsAffine' | 'packSignsAffine2' | 'bconv2d' | 'bconv2dPackKernel' | 'bconv2dPrepacked' | 'bconv2dPrepackedPost' | 'bconv2dEpilogue' | 'bconv2dEpiloguePack2' | 'bconv2dEpilogueRes2' | 'conv2dF32PackWeights' | 'conv2dF32' | 'conv2dF32Maxpool' | 'conv2dF32MaxpoolPack' | 'conv2dF32Avgpool2' | 'denseF32' | 'maxpoolF32' | 'maxpoolReluF32' | 'avgpoolF32'
  | 'globalAvgpoolF32' | 'affineF32' | 'reluF32' | 'preluF32' | 'clipF32' | 'signF32' | 'copyF32' | 'addF32'
  | 'maxF32' | 'scaleF32' | 'sumF32' | 'nchwToNhwc' | 'nhwcToNchw' | 'dwconv2dF32' | 'sigmoidF32' | 'roundF32' | 'heavisideF32' | 'divF32'
  | 'copyStridedF32' | 'padChannelsF32' | 'mulF32' | 'mulChannelsF32';

/** One resolved kernel call: the offsets are absolute byte offsets into the arena's buffer (−1 = none). */
export interface Step {
  kernel: KernelName;
  args: number[];
}

export interface Plan {
  batch: number;
  arenaBytes: number;
  /** Weights to copy into the arena once: bytes at an offset. */
  constants: { offset: number; data: Uint8Array }[];
  /** Run once after the constants are in place (weight re-layout). */
  init: Step[];
  /** Where the NCHW input goes, and the steps of one inference. */
  input: { offset: number; floats: number };
  steps: Step[];
  /** Where the output is, in NCHW order, after the steps. */
  output: { offset: number; floats: number };
  /** The activation buffers: byte offset in the arena, bytes taken (aligned), size (bytes in use), and the steps from the first that writes it
   *  to the last that reads it (−1: the input, written before the steps; steps.length: the output).
   *  inPlace: it takes the bytes of a map whose last reader is its first step, a binary conv that reads that
   *  map as its residual (or a join, as its first input) and writes this one element for element (so the
   *  two share their bytes at that step). */
  maps: { offset: number; bytes: number; size: number; first: number; last: number; inPlace: boolean }[];
  /** For `describe`: what was fused. */
  stats: {
    nodes: number;
    steps: number;
    fusedPacks: number;
    fusedAffinePacks: number;
    /** Signs of an affine map of a binary conv's output, packed by the conv (sofar_bconv2d_epilogue). */
    fusedThresholdPacks: number;
    /** Signs packed by a binary conv as its second packing (a second threshold of its output, or a concat it completes). */
    pack2s: number;
    /** Average pools (2×2 /2) computed by the binary conv that takes them as its residual, instead of a step. */
    pooledResiduals: number;
    /** Average pools (2×2 /2) computed by the 1×1 float conv that reads them (a shortcut's projection), instead of a step. */
    pooledConvInputs: number;
    /** Binary convs that write only the 2×2 /2 average pool of their floats (all a strided shortcut reads), and their signs. */
    pooledOutputs: number;
    /** Binary convs that write their output over the residual they read last (the map's bytes reused in the step). */
    inPlaceOutputs: number;
    fusedResiduals: number;
    fusedActivations: number;
    /** Binary convs on sofar_bconv2d_epilogue (an affine map or residual after the activation, a threshold pack, a strided residual). */
    epilogues: number;
    sliceWrites: number;
    /** Binary convs that pack their channels' words of a concat's signs (with its batch norm's threshold, if any). */
    packedSliceWrites: number;
    /** Binary convs that add themselves into a window of their residual's channels in place (add_into). */
    fusedAddInto: number;
    /** Batch norms of a map packed by the step that packs another batch norm of it, in the same pass (packSignsAffine2). */
    pairedAffinePacks: number;
    /** Joins (means, sums) computed by the binary convs of their operands, each adding the sum so far (no pass of their own). */
    joinsInConvs: number;
    weightBytes: number;
    activationBytes: number;
    /** The extent of the activation buffers in the arena (activationBytes also holds load-time staging and scratch). */
    mapBytes: number;
  };
}

/** A float value: its region, channel offset and pixel stride (a slice of a wider concat when stride > channels). */
interface FloatValue {
  region: Region;
  channel: number;
  stride: number;
}

interface ValueInfo {
  shape: Shape;
  c: number;
  h: number;
  w: number;
  float?: FloatValue;
  /** Packed signs by group count. */
  packed: Map<number, Region>;
  /** The binary conv call that writes this value, to which its sign packing can still be attached. */
  producer?: Call;
  /** For a sign's output: the value whose signs it holds. */
  signOf?: string;
  /** The model's input left in NCHW: its one reader, a stem conv, transposes it as it reads (conv2dF32Maxpool). */
  nchw?: boolean;
  /** A batch norm read only through signs: never stored, its signs packed straight from its input. */
  affineOf?: { input: string; scale: Float32Array; shift: Float32Array };
  /** A relu read only by a max pool: never stored, the pool takes the max of the relu of this input. */
  reluOf?: string;
  /** A 2×2 /2 average pool read only as a binary conv's residual or a 1×1 float conv's input: never stored, the conv pools this input. */
  pooledFrom?: string;
}

const ALIGN = 64;
const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;
/**
 * A map's offset spread by one cache line every 4 KiB and one more every 256 KiB. Offsets keep their order and
 * grow apart, never closer, so maps that did not share a byte still do not, and maps that share an offset (a
 * place reused, an output written in place) still share it. What changes: maps whose places lay a multiple of
 * 4 KiB apart (every 112x112, 56x56 and 28x28 float map of ReActNet-A is a multiple of 4 KiB) no longer do, so a
 * transform's loads of a pixel's residual do not wait on its stores to another pixel's output as if to the same
 * address (the core compares the low 12 address bits first: 4K aliasing). C bench, 1x1 convs of 32-128
 * channels at 56x56-112x112 with the residual and output 4 KiB-congruent against 1,088 bytes apart: 2-8 %.
 */
export const staggered = (offset: number): number => offset + ALIGN * Math.floor(offset / 4096) + ALIGN * Math.floor(offset / 262144);

/** The lowest offset where `bytes` fit between `busy` regions (sorted by offset). */
function firstFit(busy: Region[], bytes: number): number {
  let offset = 0;
  for (const o of busy) {
    if (offset + bytes <= o.offset) break;
    offset = Math.max(offset, o.offset + o.bytes);
  }
  return offset;
}

/** Choices of the planner that tests compare against each other (defaults: the runtime's). */
export interface PlanOptions {
  /** Binary convs write over the residual they read last, joins over their first input (findInPlaceOutputs); default true. */
  inPlace?: boolean;
  /** Map offsets spread apart (staggered); default true. */
  stagger?: boolean;
  /** Joins of binary convs' outputs computed by the convs, each adding the sum so far (fuse's joinsIntoConvs); default true. */
  joins?: boolean;
  /** A max pool of a batch norm with positive scales runs before it, which then normalises the pooled map (fuse's poolBeforeAffine); default true. */
  maxPoolFirst?: boolean;
}

export function planModel(model: RuntimeModel, kernels: KernelSet, batch: number, options: PlanOptions = {}): Plan {
  return new Planner(model, kernels, batch, options).plan();
}

class Planner {
  private readonly nodes: FusedNode[];
  private readonly values = new Map<string, ValueInfo>();
  private readonly regions: Region[] = [];
  private readonly calls: Call[] = [];
  private readonly initCalls: Call[] = [];
  private readonly constants: { region: Region; data: Uint8Array }[] = [];
  private readonly slices = new Map<string, FloatValue>();
  private scratchBytes = 0;
  private stagingBytes = 0;
  private readonly stats = { fusedPacks: 0, fusedAffinePacks: 0, fusedThresholdPacks: 0, pack2s: 0, pooledResiduals: 0, pooledConvInputs: 0, pooledOutputs: 0, fusedResiduals: 0, fusedActivations: 0, epilogues: 0, sliceWrites: 0, packedSliceWrites: 0, fusedAddInto: 0, pairedAffinePacks: 0 };
  private readonly readers = new Map<string, string[]>();
  private readonly byOutput = new Map<string, FusedNode>();
  /** The call of each binary conv, by its output. */
  private readonly bconvCalls = new Map<string, Call>();
  /** PReLUs and max pools computed by the stem conv before them (conv2dF32Maxpool), by output. */
  private readonly computedByStem = new Set<string>();
  /** The kernels have sofar_bconv2d_epilogue (and the prepacked binary conv it builds on). */
  private readonly epilogue: boolean;
  /**
   * Values whose floats only a 2×2 /2 average pool reads (and whose signs one binary layer reads), written
   * pooled by the 1×1 binary convs that compute them: the value (a conv's output, or a concat of them) → the
   * pool. Their full-size floats are never stored (SOFAR_EPI_POOL2_OUT).
   */
  private readonly pooledOnWrite = new Map<string, string>();

  constructor(
    private readonly model: RuntimeModel,
    private readonly k: KernelSet,
    private readonly n: number,
    private readonly options: PlanOptions = {},
  ) {
    const binaryPost = Boolean(k.bconv2dPrepackedPost && k.bconv2dPrepacked && k.bconv2dPackKernel && k.bconv2dPackedKernelBytes);
    this.epilogue = binaryPost && k.bconv2dEpilogue !== undefined;
    const residual2 = this.epilogue && k.bconv2dEpilogueRes2 !== undefined;
    this.nodes = fuse(model, { binaryPost, epilogue: this.epilogue, dynamicScale: n === 1, joins: options.joins, maxPoolFirst: options.maxPoolFirst, residual2 });
    for (const node of this.nodes) this.byOutput.set(node.output, node);
    for (const node of this.nodes) {
      for (const i of valuesRead(node)) this.readers.set(i, [...(this.readers.get(i) ?? []), node.output]);
    }
  }

  plan(): Plan {
    const { model, n } = this;
    const input = this.define(model.input.name, model.input.shape);
    const inputNchw = this.activation(n * size(model.input.shape) * 4);
    const nchwRef = this.ref(inputNchw);
    this.findPooledOnWrite();
    this.planSlices();
    if (input.c === 1 || input.h * input.w === 1) {
      // NCHW and NHWC are the same bytes.
      input.float = { region: inputNchw, channel: 0, stride: input.c };
    } else if (this.stemOfInput(input)) {
      input.float = { region: inputNchw, channel: 0, stride: input.c };
      input.nchw = true;
    } else {
      input.float = this.newFloat(input);
      this.call('nchwToNhwc', [nchwRef, this.ref(input.float.region), n, input.c, input.h, input.w]);
    }
    for (const node of this.nodes) this.lower(node);

    const out = this.values.get(model.output.name)!;
    let outRegion = this.floatOf(model.output.name).region;
    if (out.shape.length === 3 && out.h * out.w > 1 && out.c > 1) {
      const nchw = this.activation(n * size(out.shape) * 4);
      this.call('nhwcToNchw', [this.ref(outRegion), this.ref(nchw), n, out.c, out.h, out.w]);
      outRegion = nchw;
    }
    outRegion.last = Infinity;
    inputNchw.first = -1;
    for (const c of this.calls) if (c.bconv) this.chooseBconvKernel(c, c.bconv);
    this.dropUnreadOutputs();
    this.startAtFirstUse(inputNchw);
    if (this.options.inPlace !== false) this.findInPlaceOutputs(inputNchw);
    return this.layout(inputNchw, outRegion);
  }

  // ---- values and regions -----------------------------------------------------------------------

  private define(name: string, shape: Shape): ValueInfo {
    const [c, h = 1, w = 1] = shape;
    const info: ValueInfo = { shape, c, h, w, packed: new Map() };
    this.values.set(name, info);
    return info;
  }

  private region(bytes: number, kind: Region['kind']): Region {
    const r: Region = { bytes: align(Math.max(bytes, 1)), size: bytes, kind, first: this.calls.length, last: this.calls.length, offset: -1 };
    this.regions.push(r);
    return r;
  }

  private activation(bytes: number): Region {
    return this.region(bytes, 'activation');
  }

  private weight(data: Uint8Array): Region {
    const r = this.region(data.byteLength, 'weight');
    this.constants.push({ region: r, data });
    return r;
  }

  /** Raw weights that load-time steps re-lay into a weight region; then their space is reused. */
  private staging(data: Uint8Array): Region {
    const r = this.region(data.byteLength, 'staging');
    r.offset = this.stagingBytes;
    this.stagingBytes += r.bytes;
    this.constants.push({ region: r, data });
    return r;
  }

  private floats(data: Float32Array | null): Arg {
    return data ? this.ref(this.weight(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))) : null;
  }

  private ref(region: Region, at = 0): Arg {
    return { region, at };
  }

  private newFloat(v: ValueInfo): FloatValue {
    return { region: this.activation(this.n * v.h * v.w * v.c * 4), channel: 0, stride: v.c };
  }

  /** The float form of a value (contiguous), marking it read now. */
  private floatOf(name: string): FloatValue {
    const v = this.values.get(name);
    if (!v?.float) throw new Error(`internal: runtime plan reads '${name}' before it is written`);
    return v.float;
  }

  private read(name: string): Arg {
    const f = this.floatOf(name);
    f.region.last = Math.max(f.region.last, this.calls.length);
    return this.ref(f.region, f.channel * 4);
  }

  private call(kernel: KernelName, args: Arg[]): Call {
    const c = { kernel, args };
    for (const a of args) if (a && typeof a === 'object') a.region.last = Math.max(a.region.last, this.calls.length);
    this.calls.push(c);
    return c;
  }

  /** Where a node's float output goes: its concat slice, or a new buffer. */
  private output(node: FusedNode, shape: Shape): { info: ValueInfo; float: FloatValue } {
    const info = this.define(node.output, shape);
    info.float = this.slices.get(node.output) ?? this.newFloat(info);
    return { info, float: info.float };
  }

  /**
   * Channel concats get their buffer up front: a conv read by nothing else, or else only strided, writes
   * straight into its slice. A DenseNet block's chain of concats, c_k = concat(c_{k−1}, y_k), shares one buffer as wide as
   * its last concat — c_{k−1} is a prefix of c_k — when every other reader of c_{k−1} takes a strided
   * input (a batch norm or sign packed for binary layers), so no concat copies what came before it.
   */
  private planSlices(): void {
    const producers = this.byOutput;
    const channelsOf = (name: string) => producers.get(name)?.shape[0] ?? this.model.input.shape[0];
    const concats = this.nodes.filter((node) => node.op === 'concat' && node.shape.length === 3);
    // A binary conv into a concat (MeliusNet's improvement block) changes the concat's own buffer: the link
    // c_k → into(c_k) keeps the chain going, when c_k's other readers read it strided.
    const intoOf = new Map<string, string>();
    for (const node of this.nodes) {
      if (!isConv(node) || !node.into || producers.get(node.residual!)?.op !== 'concat' || !this.intoOwnSlice(node)) continue;
      if (this.othersReadStrided(node.residual!, node.output)) intoOf.set(node.residual!, node.output);
    }
    const next = new Map<string, FusedNode>();
    for (const node of concats) {
      const first = node.inputs[0];
      const viaInto = producers.get(first);
      const base = viaInto && isConv(viaInto) && viaInto.into && intoOf.get(viaInto.residual!) === first ? viaInto.residual! : first;
      if (producers.get(base)?.op !== 'concat' || node.inputs.lastIndexOf(first) !== 0 || first === this.model.output.name) continue;
      if (this.othersReadStrided(first, node.output)) next.set(base, node);
    }
    const continued = new Set(next.values());
    for (const head of concats.filter((node) => !continued.has(node))) {
      const chain = [head];
      for (let c = next.get(head.output); c; c = next.get(c.output)) chain.push(c);
      const [width, fullH, fullW] = chain[chain.length - 1].shape;
      // a concat written pooled (pooledOnWrite) holds the pooled map only
      const pooled = chain.length === 1 && this.pooledOnWrite.has(head.output);
      const [h, w] = pooled ? [fullH / 2, fullW / 2] : [fullH, fullW];
      let region: Region | null = chain.length > 1 ? this.region(this.n * h * w * width * 4, 'activation') : null;
      const writes: [string, number][] = [];
      for (const node of chain) {
        let channel = 0;
        for (const [i, input] of node.inputs.entries()) {
          const p = producers.get(input);
          // read here once, and elsewhere only strided (a DenseNet transition's conv, whose output the next
          // block's first batch norms also read): the others read the slice
          const once = node.inputs.indexOf(input) === i && node.inputs.lastIndexOf(input) === i && this.othersReadStrided(input, node.output);
          // A conv with a residual reads it at the residual's own stride only on sofar_bconv2d_epilogue.
          const writer = (p && isConv(p) && !p.into && (!p.residual || (p.op === 'bconv' && this.epilogue))) || (p !== undefined && this.sumsInOnePass(p));
          if (!(i === 0 && node !== head) && writer && once && input !== this.model.output.name) writes.push([input, channel]);
          channel += channelsOf(input);
        }
      }
      if (!writes.length && !region) continue;
      region ??= this.region(this.n * h * w * width * 4, 'activation');
      for (const [input, channel] of writes) this.slices.set(input, { region, channel, stride: width });
      for (const node of chain) {
        this.slices.set(node.output, { region, channel: 0, stride: width });
        const into = intoOf.get(node.output);
        if (into) this.slices.set(into, { region, channel: 0, stride: width });
      }
      this.stats.sliceWrites += writes.length;
    }
  }

  /**
   * The packSignsAffine step over `input`'s floats (this channel count and grouping) since which no step has
   * touched their buffer, which can pack a second batch norm of them in its pass (packSignsAffine2); else null.
   */
  private packTwin(input: string, channels: number, groups: number): Call | null {
    if (!this.k.packSignsAffine2) return null;
    const x = this.floatOf(input);
    for (let i = this.calls.length - 1; i >= 0; i--) {
      const c = this.calls[i];
      if (!c.args.some((a) => a && typeof a === 'object' && a.region === x.region)) continue;
      const from = c.args[0];
      const same = c.kernel === 'packSignsAffine' && typeof from === 'object' && from?.region === x.region && from.at === x.channel * 4;
      return same && c.args[5] === channels && c.args[6] === x.stride && c.args[7] === groups ? c : null;
    }
    return null;
  }

  /** How many of the model's joins a binary conv computes (fuse's joinsIntoConvs). */
  private joinsInConvs(): number {
    return this.model.nodes.filter((node) => node.op === 'join' && this.byOutput.get(node.output)?.op === 'bconv').length;
  }

  /** A join of 2 to 4 maps (not a max) that sumF32 computes in one pass, so it can write a concat's slice (DRF's fractal joins). */
  private sumsInOnePass(node: FusedNode): boolean {
    if (!this.k.sumF32 || (node.op !== 'join' && node.op !== 'add')) return false;
    return (node.op === 'add' || node.mode !== 'max') && node.inputs.length > 1 && node.inputs.length <= 4;
  }

  /** Whether every reader of `value` but `reader` takes it with any pixel stride (readsStrided). */
  private othersReadStrided(value: string, reader: string): boolean {
    return (this.readers.get(value) ?? []).every((r) => r === reader || this.readsStrided(r));
  }

  /** A reader that takes its input with any pixel stride: a batch norm or a sign packed for binary layers. */
  private readsStrided(output: string): boolean {
    const node = this.byOutput.get(output);
    if (output === this.model.output.name || !node) return false;
    if (node.op === 'affine') return this.k.packSignsAffine !== undefined && this.onlyPacked(output);
    return node.op === 'sign' && (this.readers.get(output) ?? []).every((r) => this.isBinaryReader(r));
  }

  // ---- packed signs -----------------------------------------------------------------------------

  /** The packed signs of `name` in `groups` groups: fused into the binary conv that writes it where possible. */
  private packed(name: string, groups: number): Region {
    const source = this.values.get(name)!.signOf ?? name;
    const v = this.values.get(source)!;
    const existing = v.packed.get(groups);
    if (existing) {
      existing.last = Math.max(existing.last, this.calls.length);
      return existing;
    }
    const bytes = this.n * v.h * v.w * this.k.packedWords(v.c, groups) * 8;
    const p = v.producer;
    let region: Region;
    const thresholdBy = v.affineOf && this.epilogue ? this.values.get(v.affineOf.input)?.producer : undefined;
    const sliceWriters = groups === 1 ? this.packedSliceWriters(v.affineOf?.input ?? source) : null;
    let second: ReturnType<Planner['pack2Writer']> = null; // looked for below, only if the cases before it fail
    let twin: Call | null = null;
    let stem: Call | null = null;
    const pooledSource = v.affineOf?.input ?? source;
    if (this.pooledOnWrite.has(pooledSource) && !sliceWriters && !(v.affineOf ? thresholdBy?.bconv?.yPacked === null : p?.bconv?.yPacked === null)) {
      throw new Error(`internal: runtime plan has no conv to pack the signs of '${pooledSource}', written pooled`);
    }
    if (sliceWriters) {
      // Each binary conv that writes its slice of the concat also packs its channels' words of the signs.
      region = this.activation(bytes);
      region.first = Math.min(...sliceWriters.map((w) => this.calls.indexOf(w.call)));
      const words = this.k.packedWords(v.c, 1);
      for (const { call, channel, width, half } of sliceWriters) {
        const packAffine = v.affineOf ? { scale: v.affineOf.scale.slice(channel, channel + width), shift: v.affineOf.shift.slice(channel, channel + width) } : null;
        Object.assign(call.bconv!, { yPacked: this.ref(region, Math.floor(channel / 64) * 8), packGroups: 1, packStride: words, packAffine, packHalf: half });
      }
      this.stats.packedSliceWrites += sliceWriters.length;
    } else if (v.affineOf && thresholdBy?.bconv && thresholdBy.bconv.yPacked === null) {
      // The binary conv that computes the batch norm's input packs the signs of the batch norm of its output.
      region = this.activation(bytes);
      region.first = this.calls.indexOf(thresholdBy);
      Object.assign(thresholdBy.bconv, { yPacked: this.ref(region), packGroups: groups, packAffine: { scale: v.affineOf.scale, shift: v.affineOf.shift } });
      this.stats.fusedThresholdPacks++;
    } else if (!v.affineOf && p?.bconv && p.bconv.yPacked === null) {
      // The conv that computes the value also packs its signs (y_packed, y_pack_groups).
      region = this.activation(bytes);
      region.first = this.calls.indexOf(p);
      Object.assign(p.bconv, { yPacked: this.ref(region), packGroups: groups });
      this.stats.fusedPacks++;
    } else if (!v.affineOf && groups === 1 && p?.kernel === 'sumF32' && p.args[SUM_PACKED] === null) {
      // The join that computes the value packs its signs in the same pass.
      region = this.activation(bytes);
      region.first = this.calls.indexOf(p);
      p.args[SUM_PACKED] = this.ref(region);
      this.stats.fusedPacks++;
    } else if (groups === 1 && (stem = this.stemPacker(v.affineOf?.input ?? source))) {
      // The stem conv that writes the map packs its signs (of the batch norm of it) as it writes each row: a
      // pass of its own would split the rows between the threads otherwise, and the next conv would wait on
      // lines the other core holds (native/STATUS.md).
      region = this.activation(bytes);
      region.first = this.calls.indexOf(stem);
      stem.kernel = 'conv2dF32MaxpoolPack';
      stem.args.splice(STEM_Y + 1, 0, this.ref(region), v.affineOf ? this.floats(v.affineOf.scale) : null, v.affineOf ? this.floats(v.affineOf.shift) : null);
      if (v.affineOf) this.stats.fusedAffinePacks++;
      else this.stats.fusedPacks++;
    } else if (groups === 1 && (second = this.pack2Writer(v.affineOf?.input ?? source))) {
      // A conv that already packs another map packs this one too, in the same pass over its rows.
      const { call, x } = second;
      region = this.activation(bytes);
      region.first = this.calls.indexOf(call);
      const scale = v.affineOf && v.affineOf.scale.some((s) => s !== 1) ? v.affineOf.scale : null;
      call.bconv!.pack2 = { x: this.ref(x.region, x.channel * 4), channels: v.c, xStride: x.stride, scale, shift: v.affineOf?.shift ?? null, y: this.ref(region) };
      this.stats.pack2s++;
    } else if (v.affineOf && (twin = this.packTwin(v.affineOf.input, v.c, groups))) {
      // The step that packs another batch norm of the same floats (a DRF layer's two columns, each with its own)
      // packs this one too, in the same pass over them.
      region = this.activation(bytes);
      region.first = this.calls.indexOf(twin);
      twin.kernel = 'packSignsAffine2';
      twin.args.splice(4, 0, this.floats(v.affineOf.scale), this.floats(v.affineOf.shift), this.ref(region));
      this.stats.pairedAffinePacks++;
    } else if (v.affineOf) {
      const { input, scale, shift } = v.affineOf;
      region = this.activation(bytes);
      this.call('packSignsAffine', [this.read(input), this.floats(scale), this.floats(shift), this.ref(region), this.n * v.h * v.w, v.c, this.floatOf(input).stride, groups]);
      this.stats.fusedAffinePacks++;
    } else {
      const f = this.floatOf(source);
      region = this.activation(bytes);
      this.call('packSigns', [this.read(source), this.ref(region), this.n * v.h * v.w, v.c, f.stride, groups]);
    }
    v.packed.set(groups, region);
    region.last = Math.max(region.last, this.calls.length);
    return region;
  }

  /**
   * The binary conv that can pack the signs of `v` (a float value, or a batch norm of one) as its second
   * packing: the conv that computes the value, its float output stored; or, for a channel concat whose every
   * slice a binary conv writes, the one that writes last (the other slices are final by then).
   */
  private pack2Writer(source: string): { call: Call; x: FloatValue } | null {
    if (!this.epilogue || !this.k.bconv2dEpiloguePack2) return null;
    const free = (c: Call | undefined) => (c?.bconv && c.bconv.pack2 === null && c.bconv.residual2 === null ? c : null);
    const own = free(this.bconvCalls.get(source));
    const f = this.values.get(source)?.float;
    if (!f) return null;
    if (own && !this.slices.has(source)) return { call: own, x: f };
    const concat = this.byOutput.get(source);
    if (concat?.op !== 'concat' || f.channel !== 0) return null;
    const writers = concat.inputs.map((input) => {
      const call = this.bconvCalls.get(input);
      return call && this.slices.get(input)?.region === f.region ? call : null;
    });
    if (writers.some((w) => w === null)) return null;
    const last = writers.reduce((a, b) => (this.calls.indexOf(b!) > this.calls.indexOf(a!) ? b : a))!;
    return free(last) ? { call: last, x: f } : null;
  }

  /**
   * The binary convs that can pack the signs of a channel concat (or of a batch norm of it) into their
   * words of the packed map: every input a binary conv writing its slice, each slice starting a word, or,
   * for convs that write pooled (SOFAR_EPI_PACK_LOW32/HIGH32 merge their bits into the word), 32 channels in
   * either half of one.
   */
  private packedSliceWriters(concatOutput: string): { call: Call; channel: number; width: number; half: 'low' | 'high' | null }[] | null {
    const concat = this.byOutput.get(concatOutput);
    if (!this.epilogue || concat?.op !== 'concat') return null;
    const region = this.slices.get(concat.output)?.region;
    const writers: { call: Call; channel: number; width: number; half: 'low' | 'high' | null }[] = [];
    let channel = 0;
    for (const input of concat.inputs) {
      const call = this.bconvCalls.get(input);
      const slice = this.slices.get(input);
      const width = this.values.get(input)!.c;
      if (!call?.bconv || call.bconv.yPacked !== null || !slice || slice.region !== region || slice.channel !== channel) return null;
      // words of its own; or, written pooled, 32 channels in half of each word
      const half = channel % 64 === 0 ? null : width === 32 && channel % 32 === 0 && call.bconv.poolOut ? 'high' : undefined;
      if (half === undefined) return null;
      const shared = half === null && width === 32 && channel + width < concat.shape[0]; // the next slice fills the word's other half
      if (shared && !call.bconv.poolOut) return null;
      writers.push({ call, channel, width, half: shared ? 'low' : half });
      channel += width;
    }
    return writers;
  }

  // ---- lowering ---------------------------------------------------------------------------------

  /** OIHW float conv weights, re-laid out by a load-time step into the region sofar_conv2d_f32 reads. */
  private packedFloatWeights(weights: Float32Array, cout: number, cin: number, kh: number, kw: number, groups: number): Region {
    const packed = this.region(this.k.conv2dF32PackedWeightsBytes(cout, cin, kh, kw, groups), 'weight');
    const raw = this.staging(new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength));
    this.initCalls.push({ kernel: 'conv2dF32PackWeights', args: [this.ref(raw), this.ref(packed), cout, cin, kh, kw, groups] });
    return packed;
  }

  /** A float conv's weights, re-laid out at load time, and its 16 shape ints. */
  private packConvWeights(node: FusedNode & { op: 'conv' }, x: ValueInfo): { packedWeights: Region; geometry: number[] } {
    const [cout, kh, kw] = [node.shape[0], node.window.kernel[0], node.window.kernel[1]];
    const packedWeights = this.packedFloatWeights(node.weights, cout, x.c, kh, kw, node.groups);
    return { packedWeights, geometry: [this.n, x.h, x.w, x.c, cout, kh, kw, ...windowArgs(node.window), node.groups] };
  }

  /**
   * A float conv the stem kernel takes (conv2dF32Maxpool: at most 4 input channels, groups 1, no dilation,
   * no residual, a plain output): it can read the model's NCHW input and run the max pool after it.
   */
  private isStem(node: FusedNode, x: ValueInfo): boolean {
    if (!this.k.conv2dF32Maxpool || !this.k.conv2dF32MaxpoolScratchBytes || node.op !== 'conv') return false;
    if (node.groups !== 1 || x.c > 4 || node.residual || node.window.dilation.some((d) => d !== 1)) return false;
    return node.output !== this.model.output.name && !this.slices.has(node.output);
  }

  /** Whether the model's input has one reader, a stem conv, that can read it in NCHW (no transpose step). */
  private stemOfInput(input: ValueInfo): boolean {
    const conv = this.soleReader(this.model.input.name);
    return conv !== undefined && conv.inputs.filter((i) => i === this.model.input.name).length === 1 && this.isStem(conv, input);
  }

  /**
   * The PReLU that alone reads a stem conv without a ReLU (Real-to-Binary Net's 7×7 conv, its batch norm folded),
   * computed on the conv's rows while they are in cache; else null.
   */
  private stemPrelu(node: FusedNode & { op: 'conv' }, x: ValueInfo): (FusedNode & { op: 'prelu' }) | null {
    if (!this.isStem(node, x) || node.relu) return null;
    const prelu = this.soleReader(node.output);
    return prelu?.op === 'prelu' && prelu.output !== this.model.output.name && !this.slices.has(prelu.output) ? prelu : null;
  }

  /** The max pool that alone reads a stem conv (Bi-Real's 7×7 conv then 3×3 pool) or its PReLU, computed in the same pass; else null. */
  private stemPool(node: FusedNode & { op: 'conv' }, x: ValueInfo, prelu: FusedNode | null): (FusedNode & { op: 'maxpool' }) | null {
    if (!this.isStem(node, x)) return null;
    const pool = this.soleReader((prelu ?? node).output);
    return pool?.op === 'maxpool' ? pool : null;
  }

  /** A stem conv on the stem kernel: reading the NCHW input if it is that, with the PReLU and the max pool after it if any. */
  private lowerStem(conv: FusedNode & { op: 'conv' }, prelu: (FusedNode & { op: 'prelu' }) | null, pool: (FusedNode & { op: 'maxpool' }) | null, x: ValueInfo): void {
    if (!this.isStem(conv, x)) throw new Error(`internal: runtime plan has no stem kernel for '${conv.name}'`);
    const { packedWeights, geometry } = this.packConvWeights(conv, x);
    const window = pool ? [...pool.window.kernel, ...pool.window.stride, ...pool.window.pads] : [1, 1, 1, 1, 0, 0, 0, 0];
    this.scratch(this.k.conv2dF32MaxpoolScratchBytes!(...geometry, ...window));
    for (const fused of [prelu, pool]) if (fused) this.computedByStem.add(fused.output);
    let info: ValueInfo;
    if (pool) {
      info = this.define(pool.output, pool.shape);
      info.float = this.newFloat(info);
    } else {
      const last = prelu ?? conv;
      info = this.output(last, last.shape).info;
    }
    const alpha = prelu ? this.floats(prelu.alpha) : null;
    // the producer of its output, so that the signs packed of it are packed by this pass (packed())
    info.producer = this.call('conv2dF32Maxpool', [this.read(conv.inputs[0]), this.ref(packedWeights), this.floats(conv.bias), alpha, this.ref(info.float!.region), SCRATCH, ...geometry, conv.relu ? 1 : 0, x.nchw ? 1 : 0, ...window]);
  }

  /**
   * The stem pass that writes `source` (its whole map, channels at stride c) and packs no signs yet, where the
   * kernel set can pack them in that pass (conv2dF32MaxpoolPack); else null.
   */
  private stemPacker(source: string): Call | null {
    const v = this.values.get(source);
    const p = v?.producer;
    if (!this.k.conv2dF32MaxpoolPack || p?.kernel !== 'conv2dF32Maxpool' || !v?.float) return null;
    return v.float.channel === 0 && v.float.stride === v.c ? p : null;
  }

  /**
   * A binary conv into a window of its residual x's channels (fuse's `into`): its output is x's buffer, the conv
   * adding its channels' floats to x's there in place (the transform reads each pixel's residual, then writes
   * it). Nothing reads x after this step (fuse checked), so x's other channels are the output's as they stand.
   */
  private planBconvInto(node: FusedConv & { op: 'bconv' }, x: ValueInfo): void {
    const into = node.into!;
    const info = this.define(node.output, node.shape);
    let xf = this.floatOf(node.residual!);
    if (this.intoOwnSlice(node)) {
      const slice = this.slices.get(node.output);
      if (slice && (slice.region !== xf.region || slice.channel !== xf.channel || slice.stride !== xf.stride)) {
        throw new Error(`internal: runtime plan puts '${node.output}' apart from the map '${node.residual}' it adds into`);
      }
      info.float = xf;
    } else {
      // x's buffer is shared (with a narrower concat the window overlaps, or as a slice of a wider one): a copy
      info.float = this.slices.get(node.output) ?? this.newFloat(info);
      const y = info.float;
      this.call('copyStridedF32', [this.read(node.residual!), this.ref(y.region, y.channel * 4), this.n * info.h * info.w, info.c, xf.stride, y.stride]);
      xf = y;
    }
    const window = this.ref(xf.region, (xf.channel + into.offset) * 4);
    this.stats.fusedResiduals++;
    this.stats.fusedAddInto++;
    this.bconvCall(node, x, into.channels, { residual: window, residualStride: xf.stride, residualPool: false, y: window, yStride: xf.stride, poolOut: false });
    // no producer: the conv writes only its window, so x's signs are packed by a step of their own
  }

  /**
   * A binary conv's call over x into `out` (where it reads its residual and writes its floats): its kernel and
   * arguments are chosen at the end (chooseBconvKernel); these mark the buffers' lives now.
   */
  private bconvCall(
    node: FusedNode & { op: 'bconv' }, x: ValueInfo, cout: number,
    out: Pick<BconvParts, 'residual' | 'residualStride' | 'residualPool' | 'y' | 'yStride' | 'poolOut'> & Partial<Pick<BconvParts, 'residual2' | 'residual2Stride'>>,
  ): Call {
    const [kh, kw] = node.window.kernel;
    const words = toWords(node.bits, cout * kh * kw, Math.ceil(x.c / node.groups / 8), this.k.packedWords(x.c / node.groups, 1));
    const kernel = this.binaryKernel(words, cout, x.c, kh, kw, node.groups);
    const geometry = [this.n, x.h, x.w, x.c, cout, kh, kw, ...windowArgs(node.window), node.groups];
    this.scratch(this.k.bconv2dScratchBytes(...geometry));
    const packedX = this.ref(this.packed(node.inputs[0], node.groups));
    const parts: BconvParts = {
      node, x: packedX, kernel: this.ref(kernel), residual2: null, residual2Stride: 0, ...out, geometry, yPacked: null, packGroups: 1, packStride: 0, packAffine: null, pack2: null,
      packHalf: null, scaledParams: node.scaleBy ? this.scaleVector(node.scaleBy, cout) : null,
    };
    const call = this.call('bconv2d', [parts.x, parts.kernel, parts.residual, parts.residual2, parts.y, SCRATCH]);
    call.bconv = parts;
    return call;
  }

  /**
   * The parameter region of a binary conv scaled by the run-time vector `name` (one sample: the planner fuses
   * it at batch 1 only), its first `channels` floats the vector's, copied there by a step of its own (a few
   * hundred floats, where the product was a pass over the map). Room for every epilogue vector after it.
   */
  private scaleVector(name: string, channels: number): Region {
    const v = this.floatOf(name);
    if (this.n !== 1 || this.values.get(name)!.c !== channels) throw new Error(`internal: runtime plan scales by '${name}', not one vector of ${channels} channels`);
    const region = this.region(EPILOGUE_VECTORS * channels * 4, 'weight');
    this.call('copyStridedF32', [this.read(name), this.ref(region), 1, channels, v.stride, channels]);
    return region;
  }

  /**
   * Whether a conv into x may write x's buffer, which nothing reads after the conv (fuse checked): a concat's,
   * which a chain shares with the narrower concats before it, where the window lies past its first input's
   * channels (those only x has); any other value's where it is its own (not a slice of a wider buffer).
   */
  private intoOwnSlice(node: FusedConv): boolean {
    const producer = this.byOutput.get(node.residual!);
    if (producer?.op !== 'concat') return !this.slices.has(node.residual!);
    const first = producer.inputs[0];
    return node.into!.offset >= (this.byOutput.get(first)?.shape[0] ?? this.model.input.shape[0]);
  }

  private lower(node: FusedNode): void {
    if (this.computedByStem.has(node.output)) return; // computed by the conv before it
    const n = this.n;
    const x = this.values.get(node.inputs[0])!;
    const pixels = n * x.h * x.w;
    switch (node.op) {
      case 'conv': {
        const prelu = this.stemPrelu(node, x);
        const pool = this.stemPool(node, x, prelu);
        if (prelu || pool || x.nchw) return this.lowerStem(node, prelu, pool, x);
        const { float } = this.output(node, node.shape);
        if (isDepthwise(node, x.c)) {
          const [kh, kw] = node.window.kernel;
          const residual = node.residual ? this.read(node.residual) : null;
          if (node.residual) this.stats.fusedResiduals++;
          this.call('dwconv2dF32', [
            this.read(node.inputs[0]), this.floats(tapMajor(node.weights, x.c, kh * kw)), this.floats(node.bias), residual, this.ref(float.region, float.channel * 4),
            n, x.h, x.w, x.c, kh, kw, ...windowArgs(node.window), float.stride, node.relu ? 1 : 0,
          ]);
          return;
        }
        const { packedWeights, geometry } = this.packConvWeights(node, x);
        const residual = node.residual ? this.read(node.residual) : null;
        if (node.residual) this.stats.fusedResiduals++;
        if (x.pooledFrom) {
          // the 1×1 conv pools its input as it reads it (pooledByFloatConv): x's own map is never stored
          const source = this.values.get(x.pooledFrom)!;
          const ints = [n, source.h, source.w, x.c, node.shape[0]] as const;
          this.scratch(this.k.conv2dF32Avgpool2ScratchBytes!(...ints));
          this.stats.pooledConvInputs++;
          this.call('conv2dF32Avgpool2', [this.read(x.pooledFrom), this.ref(packedWeights), this.floats(node.bias), residual, this.ref(float.region, float.channel * 4), SCRATCH, ...ints, float.stride, node.relu ? 1 : 0]);
          return;
        }
        this.scratch(this.k.conv2dF32ScratchBytes(...geometry));
        this.call('conv2dF32', [this.read(node.inputs[0]), this.ref(packedWeights), this.floats(node.bias), residual, this.ref(float.region, float.channel * 4), SCRATCH, ...geometry, float.stride, node.relu ? 1 : 0]);
        return;
      }
      case 'bconv': {
        if (node.into) return this.planBconvInto(node as FusedConv & { op: 'bconv' }, x);
        const poolOut = this.writesPooled(node.output);
        const { float, info } = poolOut ? this.pooledOutput(node) : this.output(node, node.shape);
        if (poolOut) this.stats.pooledOutputs++;
        const pooledFrom = node.residual ? this.values.get(node.residual)?.pooledFrom : undefined;
        const residualOf = pooledFrom ?? node.residual;
        const residual = residualOf ? this.read(residualOf) : null;
        const residual2 = node.residual2 ? this.read(node.residual2) : null;
        if (node.residual) this.stats.fusedResiduals++;
        if (node.residual2) this.stats.fusedResiduals++;
        if (pooledFrom) this.stats.pooledResiduals++;
        if (node.alpha || node.post || node.postScale) this.stats.fusedActivations++;
        const call = this.bconvCall(node, x, node.shape[0], {
          residual, residualStride: residualOf ? this.floatOf(residualOf).stride : float.stride, residualPool: pooledFrom !== undefined,
          residual2, residual2Stride: node.residual2 ? this.floatOf(node.residual2).stride : 0,
          y: this.ref(float.region, float.channel * 4), yStride: float.stride, poolOut,
        });
        this.bconvCalls.set(node.output, call);
        info.producer = this.slices.has(node.output) ? undefined : call;
        return;
      }
      case 'bdense': {
        // A binary dense layer is a 1×1 binary conv over the batch as pixels.
        const { float } = this.output(node, node.shape);
        const cout = node.shape[0];
        const kernel = this.binaryKernel(toWords(node.bits, cout, Math.ceil(x.c / 8), this.k.packedWords(x.c, 1)), cout, x.c, 1, 1, 1);
        const geometry = [1, 1, n, x.c, cout, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1];
        this.scratch(this.k.bconv2dScratchBytes(...geometry));
        this.call(this.k.bconv2dPrepacked ? 'bconv2dPrepacked' : 'bconv2d', [this.ref(this.packed(node.inputs[0], 1)), this.ref(kernel), this.floats(node.multiplier), this.floats(node.bias), null, this.ref(float.region), null, SCRATCH, ...geometry, 0, float.stride, 1]);
        return;
      }
      case 'sign': {
        const info = this.define(node.output, node.shape);
        info.signOf = this.values.get(node.inputs[0])!.signOf ?? node.inputs[0];
        const floatReaders = (this.readers.get(node.output) ?? []).some((r) => !this.isBinaryReader(r));
        if (floatReaders || node.output === this.model.output.name) {
          info.float = this.slices.get(node.output) ?? this.newFloat(info);
          this.call('signF32', [this.read(node.inputs[0]), this.ref(info.float.region, info.float.channel * 4), pixels, x.c, info.float.stride]);
        }
        return;
      }
      case 'dense': {
        // A 1×1 conv over the batch as a 1×1 map: its [in, out] weights transposed to OIHW and re-laid out in
        // panels at load time, so each thread streams its output channels' weights (sofar_conv2d_f32's direct
        // tiles); the same products in the same order as denseF32.
        const { float } = this.output(node, node.shape);
        const outputs = node.shape[0];
        const oihw = new Float32Array(outputs * x.c);
        for (let i = 0; i < x.c; i++) for (let o = 0; o < outputs; o++) oihw[o * x.c + i] = node.weights[i * outputs + o];
        const geometry = [n, 1, 1, x.c, outputs, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1];
        this.scratch(this.k.conv2dF32ScratchBytes(...geometry));
        this.call('conv2dF32', [this.read(node.inputs[0]), this.ref(this.packedFloatWeights(oihw, outputs, x.c, 1, 1, 1)), this.floats(node.bias), null, this.ref(float.region, float.channel * 4), SCRATCH, ...geometry, float.stride, 0]);
        return;
      }
      case 'affine': {
        if (this.k.packSignsAffine && this.onlyPacked(node.output)) {
          this.define(node.output, node.shape).affineOf = { input: node.inputs[0], scale: node.scale, shift: node.shift };
          return;
        }
        const { float } = this.output(node, node.shape);
        this.call('affineF32', [this.read(node.inputs[0]), this.floats(node.scale), this.floats(node.shift), this.ref(float.region, float.channel * 4), pixels, x.c, float.stride]);
        return;
      }
      case 'relu':
      case 'prelu':
      case 'clip':
      case 'sigmoid':
      case 'round':
      case 'heaviside':
      case 'div': {
        // The pool reads the relu's input as its own: it must be a whole buffer, not a slice of a wider one.
        if (node.op === 'relu' && this.k.maxpoolReluF32 && this.onlyMaxpooled(node.output) && x.float?.stride === x.c) {
          this.define(node.output, node.shape).reluOf = node.inputs[0];
          this.stats.fusedActivations++;
          return;
        }
        const { float } = this.output(node, node.shape);
        const y = this.ref(float.region, float.channel * 4);
        const xr = this.read(node.inputs[0]);
        if (node.op === 'relu') this.call('reluF32', [xr, y, pixels, x.c, float.stride]);
        else if (node.op === 'prelu') this.call('preluF32', [xr, this.floats(node.alpha), y, pixels, x.c, float.stride]);
        else if (node.op === 'clip') this.call('clipF32', [xr, y, pixels, x.c, float.stride, node.min, node.max]);
        else if (node.op === 'sigmoid') this.call('sigmoidF32', [xr, y, pixels, x.c, float.stride]);
        else if (node.op === 'round') this.call('roundF32', [xr, y, pixels, x.c, float.stride]);
        else if (node.op === 'heaviside') this.call('heavisideF32', [xr, y, pixels, x.c, float.stride]);
        else this.call('divF32', [xr, this.floats(node.divisor), y, pixels, x.c, float.stride]);
        return;
      }
      case 'mul':
      case 'mul_channels': {
        const info = this.define(node.output, node.shape);
        info.float = this.newFloat(info);
        const [a, b] = [this.read(node.inputs[0]), this.read(node.inputs[1])];
        const y = this.ref(info.float.region);
        if (node.op === 'mul' || x.h * x.w === 1) this.call('mulF32', [a, b, y, n * size(node.shape)]);
        else this.call('mulChannelsF32', [a, b, y, n, x.h * x.w, x.c]);
        return;
      }
      case 'slice': {
        const { float } = this.output(node, node.shape);
        const source = this.floatOf(node.inputs[0]);
        const at = this.read(node.inputs[0]) as { region: Region; at: number };
        this.call('copyStridedF32', [this.ref(at.region, at.at + node.start * 4), this.ref(float.region, float.channel * 4), pixels, node.shape[0], source.stride, float.stride]);
        return;
      }
      case 'pad': {
        const info = this.define(node.output, node.shape);
        info.float = this.newFloat(info);
        this.call('padChannelsF32', [this.read(node.inputs[0]), this.ref(info.float.region), pixels, x.c, node.before, node.after]);
        return;
      }
      case 'reshape': {
        // [C] and [C, 1, 1]: the same bytes (NHWC), so the same buffer and the same packed signs.
        const info = this.define(node.output, node.shape);
        info.float = this.floatOf(node.inputs[0]);
        info.signOf = x.signOf;
        return;
      }
      case 'maxpool':
      case 'avgpool': {
        if (node.op === 'avgpool' && this.pooledOnWrite.get(node.inputs[0]) === node.output) {
          // written pooled by the convs that compute its input (pooledOnWrite)
          this.define(node.output, node.shape).float = this.floatOf(node.inputs[0]);
          this.read(node.inputs[0]);
          return;
        }
        if (node.op === 'avgpool' && (this.pooledByConv(node) || this.pooledByFloatConv(node))) {
          this.define(node.output, node.shape).pooledFrom = node.inputs[0];
          return;
        }
        const info = this.define(node.output, node.shape);
        info.float = this.newFloat(info);
        const kernel = node.op === 'avgpool' ? 'avgpoolF32' : x.reluOf ? 'maxpoolReluF32' : 'maxpoolF32';
        this.call(kernel, [this.read(x.reluOf ?? node.inputs[0]), this.ref(info.float.region), n, x.h, x.w, x.c, ...node.window.kernel, ...node.window.stride, ...node.window.pads]);
        return;
      }
      case 'global_avgpool': {
        const info = this.define(node.output, node.shape);
        info.float = this.newFloat(info);
        if (this.floatOf(node.inputs[0]).stride !== x.c) throw new Error(`internal: runtime plan pools '${node.inputs[0]}', a slice of a wider map`);
        this.call('globalAvgpoolF32', [this.read(node.inputs[0]), this.ref(info.float.region), n, x.h * x.w, x.c]);
        return;
      }
      case 'flatten': {
        const info = this.define(node.output, node.shape);
        if (x.h * x.w === 1 || x.c === 1) {
          info.float = this.floatOf(node.inputs[0]);
          info.signOf = x.signOf;
          return;
        }
        // NHWC in memory, but a flattened vector is in C·H·W order.
        info.float = this.newFloat(info);
        this.call('nhwcToNchw', [this.read(node.inputs[0]), this.ref(info.float.region), n, x.c, x.h, x.w]);
        return;
      }
      case 'identity': {
        const { float } = this.output(node, node.shape);
        this.call('copyF32', [this.read(node.inputs[0]), this.ref(float.region, float.channel * 4), pixels, x.c, float.stride]);
        return;
      }
      case 'add':
      case 'join': {
        const info = this.define(node.output, node.shape);
        const slice = this.slices.get(node.output);
        if (slice) {
          // a concat's channels (sumsInOnePass): one pass writes them at the concat's stride
          info.float = slice;
          const [a, b, c = null, d = null] = node.inputs.map((input) => this.read(input));
          const mean = node.op === 'join' && node.mode === 'mean';
          info.producer = this.call('sumF32', [a, b, c, d, mean ? 1 / node.inputs.length : 1, this.ref(slice.region, slice.channel * 4), null, pixels, x.c, slice.stride]);
          return;
        }
        info.float = this.newFloat(info);
        const y = this.ref(info.float.region);
        const count = n * size(node.shape);
        const mode = node.op === 'add' ? 'sum' : node.mode;
        if (this.k.sumF32 && mode !== 'max' && node.inputs.length > 1) {
          // One pass per four inputs (the first, then the running sum and three more), the mean's scale in
          // the last; the last can pack the signs the next binary layer reads.
          const inputs = node.inputs.map((input) => this.read(input));
          let call: Call | undefined;
          for (let at = 0; at < inputs.length; ) {
            const take = at === 0 ? inputs.slice(0, 4) : [y, ...inputs.slice(at, at + 3)];
            at += at === 0 ? take.length : take.length - 1;
            const last = at >= inputs.length;
            const [a, b, c = null, d = null] = take;
            call = this.call('sumF32', [a, b, c, d, last && mode === 'mean' ? 1 / node.inputs.length : 1, y, null, pixels, x.c, 0]);
          }
          info.producer = call; // the last pass, which can pack the signs too (args[SUM_PACKED])
          return;
        }
        if (node.inputs.length === 1) this.call('copyF32', [this.read(node.inputs[0]), y, pixels, x.c, x.c]);
        node.inputs.slice(1).forEach((input, i) => {
          const a = i === 0 ? this.read(node.inputs[0]) : y;
          this.call(mode === 'max' ? 'maxF32' : 'addF32', [a, this.read(input), y, count]);
        });
        if (mode === 'mean' && node.inputs.length > 1) this.call('scaleF32', [y, 1 / node.inputs.length, y, count]);
        return;
      }
      case 'concat': {
        const info = this.define(node.output, node.shape);
        info.float = this.slices.get(node.output) ?? this.newFloat(info);
        let channel = 0;
        for (const input of node.inputs) {
          const v = this.values.get(input)!;
          const slice = this.slices.get(input);
          if (slice && slice.region === info.float.region) {
            slice.region.last = Math.max(slice.region.last, this.calls.length);
          } else if (this.pooledOnWrite.has(node.output)) {
            throw new Error(`internal: runtime plan writes '${node.output}' pooled, but '${input}' is not a slice of it`);
          } else {
            this.call('copyF32', [this.read(input), this.ref(info.float.region, channel * 4), n * v.h * v.w, v.c, info.float.stride]);
          }
          channel += v.c;
        }
        return;
      }
    }
  }

  /**
   * A binary conv's kernel and arguments, now that what it packs is known: sofar_bconv2d_epilogue where the
   * chain needs it, else the post form for an activation, else the plain prepacked conv.
   */
  private chooseBconvKernel(call: Call, b: BconvParts): void {
    const { node } = b;
    const strided = b.residual !== null && b.residualStride !== b.yStride;
    if (b.poolOut && b.pack2) throw new Error(`internal: runtime plan pools the output of '${node.name}' and packs a second map from it`);
    if (b.residual2 && (b.pack2 || b.poolOut)) throw new Error(`internal: runtime plan adds a second residual to '${node.name}' and packs a second map or pools its output`);
    if (node.postScale || node.residualAfter || b.packAffine || b.packStride || strided || b.pack2 || b.residualPool || b.poolOut || b.scaledParams || b.residual2) {
      const packScale = b.packAffine?.scale.some((v) => v !== 1) ? b.packAffine.scale : null;
      const vectors: [number, Float32Array | null][] = [
        [EPILOGUE.multiplier, node.multiplier], [EPILOGUE.bias, node.bias], [EPILOGUE.alpha, node.alpha], [EPILOGUE.scale, node.postScale],
        [EPILOGUE.shift, node.post], [EPILOGUE.packScale, packScale], [EPILOGUE.packShift, b.packAffine?.shift ?? null],
      ];
      const present = vectors.filter((v): v is [number, Float32Array] => v[1] !== null);
      const cout = b.geometry[4]; // the conv's channels (node.shape is x's for a conv into x)
      const params = new Float32Array(present.length * cout);
      present.forEach(([, v], i) => params.set(v, i * cout));
      const flags = (node.residualAfter ? EPILOGUE.residualAfter : 0) | (b.residualPool ? EPILOGUE.residualPool2 : 0) | (b.poolOut ? EPILOGUE.pool2Out : 0) |
        (b.packHalf === 'low' ? EPILOGUE.packLow32 : b.packHalf === 'high' ? EPILOGUE.packHigh32 : 0);
      const ops = present.reduce((a, [bit]) => a | bit, flags);
      // a run-time multiplier: the vectors go into its region after it (its own floats copied there each run)
      if (b.scaledParams) this.constants.push({ region: b.scaledParams, data: new Uint8Array(params.buffer) });
      const paramsArg = b.scaledParams ? this.ref(b.scaledParams) : present.length ? this.floats(params) : null;
      const head = [b.x, b.kernel, paramsArg, b.residual, b.y, b.yPacked];
      const ints = [...b.geometry, node.padValue, b.yStride, b.residualStride, b.packStride, ops, b.packGroups];
      const p2 = b.pack2;
      call.kernel = p2 ? 'bconv2dEpiloguePack2' : b.residual2 ? 'bconv2dEpilogueRes2' : 'bconv2dEpilogue';
      call.args = p2
        ? [...head, p2.x, this.floats(p2.scale), this.floats(p2.shift), p2.y, SCRATCH, ...ints, p2.channels, p2.xStride]
        : b.residual2
          ? [...head, b.residual2, SCRATCH, ...ints, b.residual2Stride]
          : [...head, SCRATCH, ...ints];
      this.stats.epilogues++;
      return;
    }
    const post = node.alpha || node.post ? [this.floats(node.alpha), this.floats(node.post)] : [];
    call.kernel = post.length ? 'bconv2dPrepackedPost' : this.k.bconv2dPrepacked ? 'bconv2dPrepacked' : 'bconv2d';
    call.args = [b.x, b.kernel, this.floats(node.multiplier), this.floats(node.bias), b.residual, ...post, b.y, b.yPacked, SCRATCH, ...b.geometry, node.padValue, b.yStride, b.packGroups];
  }

  /** A binary kernel in the canonical word layout, re-laid at load time where the kernels have a packed form. */
  private binaryKernel(words: Uint8Array, cout: number, cin: number, kh: number, kw: number, groups: number): Region {
    if (!this.k.bconv2dPrepacked || !this.k.bconv2dPackKernel || !this.k.bconv2dPackedKernelBytes) return this.weight(words);
    const packed = this.region(this.k.bconv2dPackedKernelBytes(cout, cin, kh, kw, groups), 'weight');
    this.initCalls.push({ kernel: 'bconv2dPackKernel', args: [this.ref(this.staging(words)), this.ref(packed), cout, cin, kh, kw, groups] });
    return packed;
  }

  /**
   * Finds the values to write pooled (pooledOnWrite): a value V of even height and width, not the output, read
   * by a 2×2 /2 average pool P without padding, which a binary conv alone reads as its residual, and by one
   * sign (directly, or through one batch norm read only by that sign) that binary layers alone read with one
   * group — ReActNet's block output, read by the next block's strided conv and its pooled shortcut. V is
   * computed by a 1×1 binary conv of stride 1 without padding, or is a channel concat of such convs (each read
   * by the concat alone, its slice whole words, or 32 channels in half a word). On kernels with
   * sofar_bconv2d_epilogue_pack2 (those have SOFAR_EPI_POOL2_OUT too).
   */
  private findPooledOnWrite(): void {
    if (!this.epilogue || !this.k.bconv2dEpiloguePack2) return;
    const pointwise = (name: string) => {
      const node = this.byOutput.get(name);
      if (node?.op !== 'bconv' || node.into || node.residual2 || name === this.model.output.name) return false;
      const w = node.window;
      const residualPooled = node.residual !== null && this.byOutput.get(node.residual)?.op === 'avgpool';
      return w.kernel.every((k) => k === 1) && w.stride.every((s) => s === 1) && w.pads.every((p) => p === 0) && !residualPooled;
    };
    for (const node of this.nodes) {
      const [c, h, w] = node.shape;
      if (node.shape.length !== 3 || h % 2 !== 0 || w % 2 !== 0 || node.output === this.model.output.name) continue;
      const readers = (this.readers.get(node.output) ?? []).map((r) => this.byOutput.get(r)!);
      const pools = readers.filter((r) => r.op === 'avgpool');
      const others = readers.filter((r) => r.op !== 'avgpool');
      if (pools.length !== 1 || others.length !== 1 || !this.poolForStridedShortcut(pools[0], [c, h / 2, w / 2])) continue;
      if (!this.signsOnlyToBinary(others[0])) continue;
      if (node.op === 'concat') {
        // each input a pointwise conv read by this concat alone, once; its channels whole words or a 32-channel half
        let channel = 0;
        const ok = node.inputs.every((input, i) => {
          const width = this.byOutput.get(input)?.shape[0] ?? 0; // planned before any value is defined
          const at = channel;
          channel += width;
          const alone = this.readers.get(input)?.length === 1 && node.inputs.lastIndexOf(input) === i;
          return pointwise(input) && alone && (at % 64 === 0 || (width === 32 && at % 32 === 0));
        });
        if (ok && this.byOutput.get(node.inputs[0])?.op !== 'concat') this.pooledOnWrite.set(node.output, pools[0].output);
      } else if (pointwise(node.output)) {
        this.pooledOnWrite.set(node.output, pools[0].output);
      }
    }
  }

  /** A 2×2 /2 average pool without padding, of the given output shape, read only by a binary conv as its residual. */
  private poolForStridedShortcut(node: FusedNode, shape: readonly number[]): boolean {
    if (node.op !== 'avgpool') return false;
    const reader = this.shortcutPoolReader(node);
    return reader !== undefined && !reader.inputs.includes(node.output) && node.shape.every((d, i) => d === shape[i]);
  }

  /** The binary conv that alone reads a 2×2 /2 average pool without padding (not the output), as its residual. */
  private shortcutPoolReader(node: FusedNode & { op: 'avgpool' }): (FusedNode & { op: 'bconv' }) | undefined {
    if (node.output === this.model.output.name || !isPool2x2(node.window)) return undefined;
    const reader = this.soleReader(node.output);
    return reader?.op === 'bconv' && reader.residual === node.output ? reader : undefined;
  }

  /** A sign read only by binary layers with one group, or a batch norm read only by one such sign. */
  private signsOnlyToBinary(node: FusedNode): boolean {
    if (node.output === this.model.output.name) return false;
    const readers = (this.readers.get(node.output) ?? []).map((r) => this.byOutput.get(r));
    if (node.op === 'affine') return this.k.packSignsAffine !== undefined && readers.length === 1 && readers[0]?.op === 'sign' && this.signsOnlyToBinary(readers[0]);
    return node.op === 'sign' && readers.length > 0 && readers.every((r) => (r?.op === 'bconv' && r.groups === 1) || r?.op === 'bdense');
  }

  /** Whether a binary conv writes its output pooled: it computes a value of pooledOnWrite, or a slice of one. */
  private writesPooled(output: string): boolean {
    if (this.pooledOnWrite.has(output)) return true;
    const concat = this.soleReader(output);
    return concat?.op === 'concat' && this.pooledOnWrite.has(concat.output);
  }

  /** The pooled map a conv of writesPooled writes: its slice of the concat's, or one of its own. */
  private pooledOutput(node: FusedNode & { op: 'bconv' }): { info: ValueInfo; float: FloatValue } {
    const info = this.define(node.output, node.shape);
    const [c, h, w] = node.shape;
    info.float = this.slices.get(node.output) ?? { region: this.activation(this.n * (h / 2) * (w / 2) * c * 4), channel: 0, stride: c };
    return { info, float: info.float };
  }

  /**
   * A 2×2 /2 average pool without padding whose one reader is a binary conv taking it as its residual, over
   * an input of that conv's input size, with that conv's output size: the conv pools its residual rows
   * itself (the kernels that have sofar_bconv2d_epilogue_pack2 have this too).
   */
  private pooledByConv(node: FusedNode & { op: 'avgpool' }): boolean {
    if (!this.epilogue || !this.k.bconv2dEpiloguePack2) return false;
    const reader = this.shortcutPoolReader(node);
    if (!reader || this.slices.has(node.output)) return false;
    const pooled = this.values.get(node.inputs[0]);
    const convInput = this.byOutput.get(reader.inputs[0])?.shape ?? this.model.input.shape;
    return pooled !== undefined && convInput[1] === pooled.h && convInput[2] === pooled.w && reader.shape.every((d, i) => d === node.shape[i]);
  }

  /**
   * A 2×2 /2 average pool without padding whose one reader is a 1×1 float conv (groups 1, stride 1, no
   * padding) over it, from a plain stored map: the conv pools its input rows itself (sofar_conv2d_f32_avgpool2,
   * a ResNet shortcut's pool and projection).
   */
  private pooledByFloatConv(node: FusedNode & { op: 'avgpool' }): boolean {
    if (!this.k.conv2dF32Avgpool2 || !this.k.conv2dF32Avgpool2ScratchBytes || node.output === this.model.output.name) return false;
    if (!isPool2x2(node.window) || this.slices.has(node.output)) return false;
    const reader = this.soleReader(node.output);
    if (reader?.op !== 'conv' || reader.inputs.length !== 1 || reader.inputs[0] !== node.output || reader.groups !== 1) return false;
    const rw = reader.window;
    if (rw.kernel.some((k) => k !== 1) || rw.stride.some((s) => s !== 1) || rw.pads.some((p) => p !== 0) || rw.dilation.some((d) => d !== 1)) return false;
    const source = this.values.get(node.inputs[0]);
    return source?.float !== undefined && source.float.channel === 0 && source.float.stride === source.c && source.h >= 2 && source.w >= 2;
  }

  /** Read by one max pool alone (not a concat slice, not the output), so a relu of it need not be stored. */
  private onlyMaxpooled(name: string): boolean {
    if (name === this.model.output.name || this.slices.has(name)) return false;
    return this.soleReader(name)?.op === 'maxpool';
  }

  /** The one node that reads a value, if exactly one does. */
  private soleReader(name: string): FusedNode | undefined {
    const readers = this.readers.get(name) ?? [];
    return readers.length === 1 ? this.byOutput.get(readers[0]) : undefined;
  }

  /** Read only by signs that feed only binary layers: the value is needed as packed signs alone. */
  private onlyPacked(name: string): boolean {
    if (name === this.model.output.name || this.slices.has(name)) return false;
    const readers = this.readers.get(name) ?? [];
    return readers.length > 0 && readers.every((r) => {
      const node = this.byOutput.get(r);
      return node?.op === 'sign' && r !== this.model.output.name && (this.readers.get(r) ?? []).every((b) => this.isBinaryReader(b));
    });
  }

  private isBinaryReader(output: string): boolean {
    const node = this.byOutput.get(output);
    return node?.op === 'bconv' || node?.op === 'bdense';
  }

  private scratch(bytes: number): void {
    this.scratchBytes = Math.max(this.scratchBytes, bytes);
  }

  /** A binary conv writes floats nobody reads when every reader took its packed signs instead. */
  private dropUnreadOutputs(): void {
    const read = new Set<Region>();
    for (const c of this.calls) {
      c.args.forEach((a, j) => {
        if (!a || typeof a !== 'object') return;
        const outputs = c.kernel.startsWith('bconv2d') ? bconvOutputs(c.kernel) : null;
        const written = (outputs !== null && (j === outputs.y || j === outputs.yPacked)) || ((c.kernel === 'conv2dF32' || c.kernel === 'dwconv2dF32' || c.kernel === 'conv2dF32Avgpool2') && j === 4) || (c.kernel === 'conv2dF32Maxpool' && j === STEM_Y) || (c.kernel === 'conv2dF32MaxpoolPack' && (j === STEM_Y || j === STEM_Y + 1)) || (c.kernel === 'bconv2dEpiloguePack2' && j === 9) || (c.kernel === 'sumF32' && j >= 5);
        if (!written) read.add(a.region);
      });
    }
    const sliced = new Set([...this.slices.values()].map((s) => s.region));
    for (const c of this.calls) {
      if (!c.kernel.startsWith('bconv2d')) continue;
      const at = bconvOutputs(c.kernel).y;
      const y = c.args[at] as { region: Region } | null;
      if (y && !read.has(y.region) && y.region.last !== Infinity && !sliced.has(y.region)) {
        c.args[at] = null;
        y.region.bytes = 0;
      }
    }
  }

  /**
   * Each buffer lives from the first step that touches it (its writer): a region is made when its value
   * is planned, which can be steps before the conv that writes it, and a concat's buffer before any step
   * (planSlices), so it would hold its memory from step 0 (ReActNet-A's five concats held 6.2 MB through
   * the 112×112 stage; its maps 10.0 MB, now 7.0). The model's input is written before the first step.
   */
  private startAtFirstUse(inputRegion: Region): void {
    const firstUse = new Map<Region, number>();
    this.calls.forEach((c, i) => {
      for (const a of c.args) if (a && typeof a === 'object' && !firstUse.has(a.region)) firstUse.set(a.region, i);
    });
    for (const [region, i] of firstUse) if (region !== inputRegion && region.kind === 'activation') region.first = i;
  }

  /**
   * A binary conv whose residual is a map of its output's size and stride, read last by this conv, writes its
   * output over that map: the transform reads a pixel's residual and then writes the same pixel's floats, so
   * nothing is read after it is overwritten. The output's lines are then those the conv has just read, in
   * its thread's cache, not a cold map fetched from memory to be written (a 1.6 MB map at 112×112×32).
   */
  private findInPlaceOutputs(inputRegion: Region): void {
    const inPlaceKernels: KernelName[] = ['bconv2dPrepacked', 'bconv2dPrepackedPost', 'bconv2dEpilogue', 'bconv2dEpiloguePack2', 'bconv2dEpilogueRes2'];
    this.calls.forEach((c, i) => {
      // a join's first pass over its first input (sofar_sum_f32: a may be y)
      if (c.kernel === 'sumF32') return this.writeOver(c.args[0], c.args[5], i, inputRegion);
      const b = c.bconv;
      if (!b || !inPlaceKernels.includes(c.kernel) || b.poolOut || !c.args.includes(b.y)) return;
      if (!b.residualPool && b.residualStride === b.yStride && c.args.includes(b.residual)) this.writeOver(b.residual, b.y, i, inputRegion);
      // else over the second residual (a join's sum so far), which the transform also reads pixel by pixel first
      if (b.residual2Stride === b.yStride && c.args.includes(b.residual2)) this.writeOver(b.residual2, b.y, i, inputRegion);
    });
  }

  /** Step i's output `y` takes the bytes of `x` where x is a whole activation of y's size that step i reads last. */
  private writeOver(x: Arg, y: Arg, i: number, inputRegion: Region): void {
    if (!x || !y || typeof x !== 'object' || typeof y !== 'object' || x.at !== 0 || y.at !== 0) return;
    const r = x.region, out = y.region;
    if (r === out || r === inputRegion || r.kind !== 'activation' || out.kind !== 'activation' || out.inPlaceOf) return;
    if (r.bytes === out.bytes && r.last === i && out.first === i) out.inPlaceOf = r;
  }

  // ---- layout -----------------------------------------------------------------------------------

  private layout(inputRegion: Region, outputRegion: Region): Plan {
    let weightBytes = 0;
    for (const r of this.regions) {
      if (r.kind !== 'weight') continue;
      r.offset = weightBytes;
      weightBytes += r.bytes;
    }
    // Over the activations in order of first use; a region may reuse space freed before it starts. It takes
    // the place of the latest dead region of its size where it can, else the lowest free place: the same
    // pixels then keep their addresses layer after layer, in the cache of the thread that computes them
    // (the thread pool gives each thread the same range of pixels every layer). Measured against the
    // largest first, each in the smallest gap that holds it (ReActNet-A's maps 5.0 MB against 7.0): the
    // smaller arena lost 8-9 % on ReActNet-A in some phases of this shared host and won 4 % in others.
    const live: Region[] = [];
    let top = 0;
    const activations = this.regions.filter((r) => r.kind === 'activation' && r.bytes > 0).sort((a, b) => a.first - b.first);
    for (const r of activations) {
      const busy = live.filter((o) => o.last >= r.first && o.first <= r.last).sort((a, b) => a.offset - b.offset);
      // `except`: the map written over, whose last reader is this map's writer
      const fits = (at: number, except?: Region) => busy.every((o) => o === except || at + r.bytes <= o.offset || o.offset + o.bytes <= at);
      if (r.inPlaceOf && !fits(r.inPlaceOf.offset, r.inPlaceOf)) r.inPlaceOf = undefined;
      const same = () => live.filter((o) => o.bytes === r.bytes && o.last < r.first).sort((a, b) => b.last - a.last).find((o) => fits(o.offset));
      r.offset = r.inPlaceOf ? r.inPlaceOf.offset : (same()?.offset ?? firstFit(busy, r.bytes));
      live.push(r);
    }
    for (const r of activations) {
      if (this.options.stagger !== false) r.offset = staggered(r.offset);
      top = Math.max(top, r.offset + r.bytes);
    }
    // Weight re-layout at load time uses the (still unused) activation space as staging.
    const activationBase = weightBytes;
    const activationBytes = Math.max(top, this.stagingBytes);
    const scratchBase = activationBase + align(activationBytes);
    const arenaBytes = scratchBase + align(this.scratchBytes);
    const resolve = (a: Arg): number => {
      if (a === null) return -1;
      if (typeof a === 'number') return a;
      if (a === SCRATCH) return scratchBase;
      return (a.region.kind === 'weight' ? a.region.offset : activationBase + a.region.offset) + a.at;
    };
    const constantOffset = (r: Region) => (r.kind === 'weight' ? r.offset : activationBase + r.offset);
    const steps = (calls: Call[]) => calls.map((c) => ({ kernel: c.kernel, args: c.args.map(resolve) }));
    return {
      batch: this.n,
      arenaBytes,
      constants: this.constants.map((c) => ({ offset: constantOffset(c.region), data: c.data })),
      init: steps(this.initCalls),
      input: { offset: activationBase + inputRegion.offset, floats: this.n * size(this.model.input.shape) },
      steps: steps(this.calls),
      output: { offset: activationBase + outputRegion.offset, floats: this.n * size(this.model.output.shape) },
      maps: activations.map((r) => ({ offset: activationBase + r.offset, bytes: r.bytes, size: r.size, first: r.first, last: Math.min(r.last, this.calls.length), inPlace: r.inPlaceOf !== undefined })),
      stats: { nodes: this.model.nodes.length, steps: this.calls.length, ...this.stats, joinsInConvs: this.joinsInConvs(), inPlaceOutputs: activations.filter((r) => r.inPlaceOf).length, weightBytes, activationBytes: align(activationBytes) + align(this.scratchBytes), mapBytes: top },
    };
  }
}

/** Where sumF32 takes its packed output. */
const SUM_PACKED = 6;

/** Where the stem kernels take y (conv2dF32MaxpoolPack: then yPacked, packScale, packShift). */
const STEM_Y = 4;

/** The shared scratch region (one kernel runs at a time). */
const SCRATCH: Arg = { region: { bytes: 0, size: 0, kind: 'activation', first: 0, last: 0, offset: 0 }, at: 0 };

/** A 2×2 window of stride 2 without padding (the pools the convs compute in their own pass). */
function isPool2x2(w: Window): boolean {
  return w.kernel.every((k) => k === 2) && w.stride.every((s) => s === 2) && w.pads.every((p) => p === 0);
}

function windowArgs(w: Window): number[] {
  return [...w.stride, ...w.pads, ...w.dilation];
}

const size = (shape: Shape) => shape.reduce((a, b) => a * b, 1);

/** Where a binary conv call's float and packed outputs are among its arguments. */
function bconvOutputs(kernel: KernelName): { y: number; yPacked: number } {
  if (kernel === 'bconv2dEpilogue' || kernel === 'bconv2dEpiloguePack2' || kernel === 'bconv2dEpilogueRes2') return { y: 4, yPacked: 5 };
  return kernel === 'bconv2dPrepackedPost' ? { y: 7, yPacked: 8 } : { y: 5, yPacked: 6 };
}

/** The most parameter vectors an epilogue call takes (multiplier, bias, alpha, scale, shift, pack scale, pack shift). */
const EPILOGUE_VECTORS = 7;
/** The ops bits of sofar_bconv2d_epilogue (native/include/sofar_kernels.h: SOFAR_EPI_*). */
const EPILOGUE = { multiplier: 1, bias: 2, residualAfter: 4, alpha: 8, scale: 16, shift: 32, packScale: 64, packShift: 128, residualPool2: 256, pool2Out: 512, packLow32: 1024, packHigh32: 2048 };

/** A conv with one input and one output channel per group, as the direct depthwise kernel runs it. */
function isDepthwise(node: FusedNode & { op: 'conv' }, channels: number): boolean {
  return node.groups === channels && node.shape[0] === channels && channels > 1 && node.window.kernel[0] * node.window.kernel[1] <= DEPTHWISE_MAX_TAPS;
}
/** SOFAR_DW_MAX_TAPS of native/src/internal.h. */
const DEPTHWISE_MAX_TAPS = 1024;

/** Depthwise weights OIHW [c][1][kh][kw] → tap-major [kh][kw][c], as sofar_dwconv2d_f32 reads them. */
function tapMajor(weights: Float32Array, channels: number, taps: number): Float32Array {
  const out = new Float32Array(weights.length);
  for (let c = 0; c < channels; c++) for (let t = 0; t < taps; t++) out[t * channels + c] = weights[c * taps + t];
  return out;
}

/** Packed kernel rows of `rowBytes` bytes → rows of `words` little-endian uint64 words (zero-filled). */
function toWords(bits: Uint8Array, rows: number, rowBytes: number, words: number): Uint8Array {
  const out = new Uint8Array(rows * words * 8);
  for (let r = 0; r < rows; r++) out.set(bits.subarray(r * rowBytes, (r + 1) * rowBytes), r * words * 8);
  return out;
}
