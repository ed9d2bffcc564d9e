/**
 * The attribute schema of every node kind, for graphs that come from outside the elaborator (a JSON
 * file, a program): each entry returns what is wrong with a node's attributes, or null. Written as an
 * OpTable, so a new node kind does not compile until it has a schema.
 */
import { quantizersFor, type QuantizerName, type QuantizerUse } from '../quantizers.js';
import type { GraphNode, OpTable } from './types.js';
import { dispatch } from './types.js';

type Attrs = Record<string, unknown>;
/** One attribute's check: a description of what it must be, or null when it is that. */
type Rule = (v: unknown) => string | null;

const wholeAtLeast = (min: number): Rule => (v) => (Number.isInteger(v) && (v as number) >= min ? null : `a whole number ≥ ${min}`);
const finite: Rule = (v) => (typeof v === 'number' && Number.isFinite(v) ? null : 'a finite number');
const inRange = (lo: number, hi: number): Rule => (v) => (typeof v === 'number' && v >= lo && v < hi ? null : `a number in [${lo}, ${hi})`);
const positive: Rule = (v) => (typeof v === 'number' && v > 0 && Number.isFinite(v) ? null : 'a number > 0');
const bool: Rule = (v) => (typeof v === 'boolean' ? null : 'true or false');
const tuple = (n: number, item: Rule): Rule => (v) => (Array.isArray(v) && v.length === n && v.every((x) => item(x) === null) ? null : `${n} × ${item(undefined)}`);
const oneOf = (...values: string[]): Rule => (v) => (values.includes(v as string) ? null : `one of ${values.join(', ')}`);
const orNull = (rule: Rule): Rule => (v) => (v === null ? null : rule(v) && `${rule(v)} or null`);
/** A quantizer reference whose name is registered for this use (the backends' tables are typed by it). */
const quantizer = (use: QuantizerUse): Rule => (v) => {
  const q = v as { name?: unknown; args?: unknown };
  const ok = typeof q === 'object' && q !== null && typeof q.name === 'string' && quantizersFor(use).includes(q.name as QuantizerName) && typeof q.args === 'object' && q.args !== null;
  return ok && Object.values(q.args as object).every((a) => finite(a) === null) ? null : `a quantizer { name, args } with name one of ${quantizersFor(use).join(', ')}`;
};
const weightQuantizer = orNull(quantizer('weight'));

const pair = tuple(2, wholeAtLeast(1));
const pads = tuple(4, wholeAtLeast(0));
const window = { kernel: pair, stride: pair, pads };

function fields(schema: Record<string, Rule>) {
  const entries = Object.entries(schema);
  return (node: GraphNode): string | null => {
    const attrs = node.attrs as Attrs;
    for (const [key, rule] of entries) {
      const problem = rule(attrs[key]);
      if (problem) return `attribute '${key}' must be ${problem}, not ${JSON.stringify(attrs[key]) ?? 'missing'}`;
    }
    return null;
  };
}

const HARDTANH = fields({ min: finite, max: finite });
const columnNumber = wholeAtLeast(1);
const JOIN = fields({
  mode: oneOf('mean', 'sum', 'max', 'concat'),
  fractal: (v) => (typeof v === 'string' ? null : 'a string'),
  columns: (v) => (Array.isArray(v) && v.every((c) => columnNumber(c) === null) ? null : 'a list of column numbers ≥ 1'),
});

const SCHEMAS: OpTable<[], string | null> = {
  input: fields({}),
  conv: fields({ filters: wholeAtLeast(1), kernel: pair, stride: pair, pads, dilation: pair, groups: wholeAtLeast(1), bias: bool, kernelQuantizer: weightQuantizer, kernelClip: orNull(positive), padValue: finite }),
  dense: fields({ units: wholeAtLeast(1), bias: bool, kernelQuantizer: weightQuantizer, kernelClip: orNull(positive) }),
  batchnorm: fields({ momentum: inRange(0, 1), epsilon: positive, scale: bool, center: bool }),
  quantize: fields({ quantizer: quantizer('activation') }),
  relu: fields({}),
  prelu: fields({}),
  hardtanh: (node) => HARDTANH(node) ?? (node.attrs.min <= node.attrs.max ? null : `min ${node.attrs.min} is above max ${node.attrs.max}`),
  bias: fields({}),
  sigmoid: fields({}),
  maxpool: fields(window),
  avgpool: fields(window),
  global_avgpool: fields({}),
  flatten: fields({}),
  dropout: fields({ rate: inRange(0, 1) }),
  add: fields({}),
  concat: fields({}),
  multiply: fields({}),
  add_into: fields({ offset: wholeAtLeast(0) }),
  join: (node) => {
    const problem = JOIN(node);
    if (problem) return problem;
    const dropPath = node.attrs.dropPath as unknown as Attrs | undefined;
    if (typeof dropPath !== 'object' || dropPath === null || inRange(0, 1)(dropPath.local) || inRange(0, 1)(dropPath.global)) {
      return `attribute 'dropPath' must be { local, global } with rates in [0, 1), not ${JSON.stringify(dropPath) ?? 'missing'}`;
    }
    return node.attrs.columns.length === node.inputs.length ? null : `has ${node.inputs.length} inputs but ${node.attrs.columns.length} column numbers`;
  },
};

/** What is wrong with a node's attributes, or null. */
export function attrsProblem(node: GraphNode): string | null {
  return dispatch(SCHEMAS, node);
}

