/**
 * Constant folding at load time: nodes whose inputs are all stored weights are computed here, once, and
 * their outputs become stored weights. The exporter writes such subgraphs where a binary kernel meets a
 * real-valued input (BinaryAlexNet's first layer, DoReFa's k-bit inputs): the packed bits are unpacked by
 * Cast → Gather → Reshape → Slice → Reshape → Where into the ±1 float kernel of a standard Conv or MatMul.
 * Supported: Identity, Cast, Gather (axis 0), Reshape, Unsqueeze, Squeeze, Slice and Where, on float32,
 * integer and boolean tensors of at most MAX_FOLD_ELEMENTS values, held in typed arrays of their own type
 * (DoReFa-Net's first dense kernel at 224×224 unpacks to 37.7 M values: 38 MB of booleans, then 151 MB of
 * floats). Everything is checked: a folded model fails with a RuntimeModelError, never an exception of
 * another kind.
 */

import { onnx, type AttributeProto, type NodeProto, type TensorProto } from '../onnx/onnx-messages.js';

const T = onnx.TensorProto.DataType;

/** Largest constant computed at load time (values): 256 MB of float32. */
const MAX_FOLD_ELEMENTS = 1 << 26;

/** A tensor's values in an array of its type (int64 as float64: exact below 2^53, as ONNX shapes and indices are). */
type Values = Float32Array | Float64Array | Int32Array | Int8Array | Uint8Array;

interface Constant {
  type: number;
  dims: number[];
  values: Values;
}

/** An array for `size` values of an ONNX type. */
function valuesOf(type: number, size: number): Values {
  if (type === T.FLOAT) return new Float32Array(size);
  if (type === T.INT32) return new Int32Array(size);
  if (type === T.INT64) return new Float64Array(size);
  if (type === T.INT8) return new Int8Array(size);
  return new Uint8Array(size); // UINT8, BOOL
}

const FOLDABLE = new Set(['Identity', 'Cast', 'Gather', 'Reshape', 'Unsqueeze', 'Squeeze', 'Slice', 'Where']);
const TYPES = new Set<number>([T.FLOAT, T.UINT8, T.INT8, T.INT32, T.INT64, T.BOOL]);

/**
 * Folds the constant nodes of `nodes` into `initializers` (mutated); returns the nodes left to run.
 * `fail` reports a constant subgraph that is malformed.
 */
export function foldConstants(nodes: readonly NodeProto[], initializers: Map<string, TensorProto>, fail: (message: string) => never): NodeProto[] {
  // The nodes that fold: every input stored, or computed by a node that folds.
  const known = new Set(initializers.keys());
  const folds = nodes.map((node) => {
    const inputs = (node.input ?? []).filter((i) => i !== '');
    const constant = (node.domain ?? '') === '' && FOLDABLE.has(node.opType ?? '') && inputs.length > 0 && inputs.every((i) => known.has(i)) && (node.output ?? []).length === 1;
    if (constant && node.output![0]) known.add(node.output![0]);
    return constant;
  });
  // A folded value becomes a stored weight where a node left to run reads it, or none does (a graph output);
  // the steps between (the unpacking's bits) stay decoded here.
  const readByLeft = new Set(nodes.filter((_, k) => !folds[k]).flatMap((n) => n.input ?? []));
  const readByFolded = new Set(nodes.filter((_, k) => folds[k]).flatMap((n) => n.input ?? []));
  const decoded = new Map<string, Constant>();
  const left: NodeProto[] = [];
  nodes.forEach((node, k) => {
    if (!folds[k]) {
      left.push(node);
      return;
    }
    const type = node.opType ?? '';
    const where = `node '${node.name || node.output![0]}' (${type}, on stored weights)`;
    const bad = (message: string): never => fail(`${where}: ${message}`);
    const args = (node.input ?? []).map((i) => (i === '' ? null : decoded.get(i) ?? read(initializers.get(i)!, bad)));
    const out = evaluate(type, args, node.attribute ?? [], bad);
    const name = node.output![0];
    if (!name || initializers.has(name) || decoded.has(name)) bad(`its output '${name}' is empty or defined twice`);
    decoded.set(name, out);
    if (readByLeft.has(name) || !readByFolded.has(name)) initializers.set(name, write(name, out));
  });
  return left;
}

function count(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function read(t: TensorProto, bad: (m: string) => never): Constant {
  const type = t.dataType ?? 0;
  if (!TYPES.has(type)) bad(`a weight of type ${type} is not supported`);
  const dims = (t.dims ?? []).map(Number);
  if (!dims.every((d) => Number.isInteger(d) && d >= 0)) bad('a weight has a negative or fractional dimension');
  const size = count(dims);
  if (!(size <= MAX_FOLD_ELEMENTS)) bad(`a weight of ${size} values is too large to fold`);
  const raw = t.rawData && t.rawData.length ? t.rawData : null;
  const width = type === T.FLOAT || type === T.INT32 ? 4 : type === T.INT64 ? 8 : 1;
  const values = valuesOf(type, size);
  if (raw) {
    if (raw.length !== size * width) bad(`a weight holds ${raw.length} bytes, ${size} values need ${size * width}`);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < size; i++) {
      values[i] =
        type === T.FLOAT ? view.getFloat32(i * 4, true)
        : type === T.INT32 ? view.getInt32(i * 4, true)
        : type === T.INT64 ? Number(view.getBigInt64(i * 8, true))
        : type === T.INT8 ? view.getInt8(i)
        : view.getUint8(i);
    }
  } else {
    const data = (type === T.FLOAT ? t.floatData : type === T.INT64 ? t.int64Data : t.int32Data) ?? [];
    if (data.length !== size) bad(`a weight holds ${data.length} values, its dims need ${size}`);
    for (let i = 0; i < size; i++) values[i] = Number(data[i]);
  }
  return { type, dims, values };
}

function write(name: string, c: Constant): TensorProto {
  // little-endian bytes (as every platform Node and browsers run on): the typed array's own, not copied (no
  // folded value is written to after it is computed; a first touch of fresh memory costs more than the copy)
  const v = c.values;
  const bytes = c.type === T.INT64 ? new Uint8Array(BigInt64Array.from(v, (x) => BigInt(x)).buffer) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return onnx.TensorProto.create({ name, dataType: c.type, dims: c.dims, rawData: bytes });
}

function attr(attrs: readonly AttributeProto[], name: string): AttributeProto | undefined {
  return attrs.find((a) => a.name === name);
}

function ints(c: Constant | null, what: string, bad: (m: string) => never): number[] {
  if (!c || (c.type !== T.INT64 && c.type !== T.INT32) || c.dims.length > 1) return bad(`${what} must be an integer vector`);
  return Array.from(c.values);
}

function evaluate(type: string, args: (Constant | null)[], attrs: readonly AttributeProto[], bad: (m: string) => never): Constant {
  const known = new Set<string>();
  const use = (name: string) => {
    known.add(name);
    return attr(attrs, name);
  };
  const x = args[0];
  if (!x) return bad('its first input is missing');
  let out: Constant;
  switch (type) {
    case 'Identity':
      out = x;
      break;
    case 'Cast': {
      const to = Number(use('to')?.i ?? 0);
      use('saturate');
      if (!TYPES.has(to)) bad(`casting to type ${to} is not supported`);
      const convert = (v: number) =>
        to === T.FLOAT ? Math.fround(v)
        : to === T.BOOL ? (v !== 0 ? 1 : 0)
        : to === T.UINT8 ? Math.trunc(v) & 0xff
        : to === T.INT8 ? (Math.trunc(v) << 24) >> 24
        : Math.trunc(v);
      const values = valuesOf(to, x.values.length);
      for (let i = 0; i < values.length; i++) values[i] = convert(x.values[i]);
      out = { type: to, dims: x.dims, values };
      break;
    }
    case 'Gather': {
      const axis = Number(use('axis')?.i ?? 0);
      const indices = args[1];
      if (axis !== 0 || !indices || indices.type === T.FLOAT || indices.type === T.BOOL || x.dims.length < 1) return bad('only Gather along axis 0 with integer indices is supported');
      const rows = x.dims[0];
      const per = count(x.dims.slice(1));
      if (indices.values.length * per > MAX_FOLD_ELEMENTS) bad('the result is too large to fold');
      const values = valuesOf(x.type, indices.values.length * per);
      indices.values.forEach((i: number, j: number) => {
        const r = i < 0 ? i + rows : i;
        if (!(r >= 0 && r < rows)) bad(`index ${i} is outside the ${rows} rows`);
        values.set(x.values.subarray(r * per, (r + 1) * per), j * per);
      });
      out = { type: x.type, dims: [...indices.dims, ...x.dims.slice(1)], values };
      break;
    }
    case 'Reshape': {
      if (Number(use('allowzero')?.i ?? 0) !== 0) bad('allowzero is not supported');
      const shape = ints(args[1], 'the shape', bad).map((d, k) => (d === 0 ? x.dims[k] ?? bad('a 0 in the shape has no dimension to copy') : d));
      const known = shape.filter((d) => d !== -1);
      if (shape.length - known.length > 1 || known.some((d) => !(Number.isInteger(d) && d >= 0))) bad(`shape [${shape.join(', ')}] is not a valid shape`);
      const rest = count(known);
      const inferred = shape.length > known.length ? (rest > 0 && x.values.length % rest === 0 ? x.values.length / rest : bad('the -1 in the shape cannot be inferred')) : null;
      const dims = shape.map((d) => (d === -1 ? inferred! : d));
      if (count(dims) !== x.values.length) bad(`cannot reshape [${x.dims.join(', ')}] to [${dims.join(', ')}]`);
      out = { type: x.type, dims, values: x.values };
      break;
    }
    case 'Unsqueeze':
    case 'Squeeze': {
      const rank = type === 'Unsqueeze' ? x.dims.length + ints(args[1], 'the axes', bad).length : x.dims.length;
      const axes = new Set(ints(args[1], 'the axes', bad).map((a) => (a < 0 ? a + rank : a)));
      if ([...axes].some((a) => !(a >= 0 && a < rank))) bad('an axis is out of range');
      let dims: number[];
      if (type === 'Unsqueeze') {
        dims = [];
        for (let k = 0, j = 0; k < rank; k++) dims.push(axes.has(k) ? 1 : x.dims[j++]);
      } else {
        if ([...axes].some((a) => x.dims[a] !== 1)) bad('only axes of size 1 can be squeezed');
        dims = x.dims.filter((_, k) => !axes.has(k));
      }
      out = { type: x.type, dims, values: x.values };
      break;
    }
    case 'Slice':
      out = slice(x, args, bad);
      break;
    default: // Where
      out = where(args, bad);
  }
  for (const a of attrs) if (!known.has(a.name ?? '')) bad(`attribute '${a.name}' is not supported`);
  return out;
}

function slice(x: Constant, args: (Constant | null)[], bad: (m: string) => never): Constant {
  const starts = ints(args[1], 'starts', bad);
  const ends = ints(args[2], 'ends', bad);
  const rank = x.dims.length;
  const axes = args[3] ? ints(args[3], 'axes', bad).map((a) => (a < 0 ? a + rank : a)) : starts.map((_, k) => k);
  const steps = args[4] ? ints(args[4], 'steps', bad) : starts.map(() => 1);
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) bad('starts, ends, axes and steps must have the same length');
  const from = x.dims.map(() => 0);
  const to = [...x.dims];
  axes.forEach((axis, k) => {
    if (!(axis >= 0 && axis < rank)) bad(`axis ${axis} is out of range`);
    if (steps[k] !== 1) bad('only step 1 is supported');
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + x.dims[axis] : v, 0), x.dims[axis]);
    from[axis] = clamp(starts[k]);
    to[axis] = Math.max(from[axis], clamp(ends[k]));
  });
  const dims = to.map((t, k) => t - from[k]);
  const values = valuesOf(x.type, count(dims));
  const strides = x.dims.map((_, k) => count(x.dims.slice(k + 1)));
  let at = 0;
  // the last axis's kept run, copied whole
  const visit = (axis: number, offset: number) => {
    if (axis === rank - 1) {
      values.set(x.values.subarray(offset + from[axis], offset + to[axis]), at);
      at += to[axis] - from[axis];
      return;
    }
    for (let i = from[axis]; i < to[axis]; i++) visit(axis + 1, offset + i * strides[axis]);
  };
  if (rank === 0) values.set(x.values);
  else if (values.length > 0) visit(0, 0);
  return { type: x.type, dims, values };
}

/** Where(cond, a, b) with NumPy broadcasting. */
function where(args: (Constant | null)[], bad: (m: string) => never): Constant {
  const [cond, a, b] = args;
  if (!cond || !a || !b || cond.type !== T.BOOL || a.type !== b.type) return bad('takes a boolean condition and two values of one type');
  const rank = Math.max(cond.dims.length, a.dims.length, b.dims.length);
  const padded = [cond, a, b].map((c) => [...new Array<number>(rank - c.dims.length).fill(1), ...c.dims]);
  const dims = Array.from({ length: rank }, (_, k) => {
    const sizes = new Set(padded.map((d) => d[k]).filter((d) => d !== 1));
    if (sizes.size > 1) bad('the inputs do not broadcast');
    return sizes.size ? [...sizes][0] : 1;
  });
  const size = count(dims);
  if (size > MAX_FOLD_ELEMENTS) bad('the result is too large to fold');
  const index = (d: number[], flat: number) => {
    let at = 0;
    let rest = flat;
    let stride = 1;
    for (let k = rank - 1; k >= 0; k--) {
      const i = rest % dims[k];
      rest = Math.floor(rest / dims[k]);
      if (d[k] !== 1) at += i * stride;
      stride *= d[k];
    }
    return at;
  };
  const values = valuesOf(a.type, size);
  if (cond.values.length === size && a.values.length === 1 && b.values.length === 1) {
    // the unpacking's bits to ±1: no index arithmetic per value
    const c = cond.values, av = a.values[0], bv = b.values[0];
    for (let i = 0; i < size; i++) values[i] = c[i] ? av : bv;
  } else {
    for (let i = 0; i < size; i++) values[i] = cond.values[index(padded[0], i)] ? a.values[index(padded[1], i)] : b.values[index(padded[2], i)];
  }
  return { type: a.type, dims, values };
}
