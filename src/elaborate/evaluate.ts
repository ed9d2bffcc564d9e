/**
 * Expression evaluation: numbers, booleans, sizes, lists, names, conditionals and built-in functions.
 * Names with no binding evaluate to symbols (`same`, `mean`, `approx_sign`); whoever consumes a value
 * decides whether a symbol is acceptable, and reports a misspelt variable with a suggestion.
 */
import type { Arg, Expr } from '../../grammar/ast.js';
import { closest, error, type Diagnostic, type Span } from '../diagnostics.js';
import { bool, describe, formatNumber, num, NONE, roundHalfEven, type BoundArg, type Value } from './values.js';

/** A lexical environment; `shape` gives the current feature map for `channels`, `height`, `width`. */
export class Env {
  // Most environments never bind a name (one per statement list and call); create the map lazily.
  private vars: Map<string, Value> | undefined;

  constructor(
    readonly parent: Env | undefined,
    readonly shape: () => readonly number[] | undefined = parent?.shape ?? (() => undefined),
  ) {}

  child(shape?: () => readonly number[] | undefined): Env {
    return new Env(this, shape ?? this.shape);
  }

  define(name: string, value: Value): void {
    (this.vars ??= new Map()).set(name, value);
  }

  lookup(name: string): Value | undefined {
    return this.vars?.get(name) ?? this.parent?.lookup(name);
  }

  /** Every visible variable name (for "did you mean"). */
  names(): string[] {
    const own = [...(this.vars?.keys() ?? [])];
    return this.parent ? [...own, ...this.parent.names()] : own;
  }
}

/** Thrown inside evaluation and caught at the statement that started it. */
export class EvalError extends Error {
  constructor(readonly diagnostic: Diagnostic) {
    super(diagnostic.message);
  }
}

export function fail(code: string, message: string, span: Span, hint?: string): never {
  throw new EvalError(error(code, message, span, hint));
}

const SHAPE_NAMES: Record<string, number> = { channels: 0, height: 1, width: 2 };

type Builtin = (args: number[], span: Span) => number;
const BUILTINS: Record<string, Builtin> = {
  round: ([x]) => roundHalfEven(x),
  floor: ([x]) => Math.floor(x),
  ceil: ([x]) => Math.ceil(x),
  abs: ([x]) => Math.abs(x),
  int: ([x]) => Math.trunc(x),
  sqrt: ([x]) => Math.sqrt(x),
  log2: ([x]) => Math.log2(x),
  min: (xs, span) => (xs.length ? Math.min(...xs) : fail('arity', 'min needs at least one argument', span)),
  max: (xs, span) => (xs.length ? Math.max(...xs) : fail('arity', 'max needs at least one argument', span)),
};
const BUILTIN_ARITY: Record<string, number | undefined> = { round: 1, floor: 1, ceil: 1, abs: 1, int: 1, sqrt: 1, log2: 1 };

export function evaluate(expr: Expr, env: Env): Value {
  switch (expr.kind) {
    case 'number':
      return num(expr.value);
    case 'bool':
      return bool(expr.value);
    case 'string':
      return { t: 'str', v: expr.value };
    case 'dims':
      return { t: 'dims', v: expr.value };
    case 'list':
      return { t: 'list', v: expr.items.map((item) => evaluate(item, env)) };
    case 'name':
      return lookupName(expr.name, expr.span, env);
    case 'unary': {
      const operand = evaluate(expr.operand, env);
      if (expr.op === 'not') return bool(!asBool(operand, expr.operand.span, env));
      const n = asNumber(operand, expr.operand.span, env);
      return num(expr.op === '-' ? -n : n);
    }
    case 'binary':
      return binary(expr, env);
    case 'conditional': {
      const cond = asBool(evaluate(expr.cond, env), expr.cond.span, env);
      if (cond) return evaluate(expr.then, env);
      return expr.otherwise ? evaluate(expr.otherwise, env) : NONE;
    }
    case 'call': {
      const special = SPECIAL_BUILTINS[expr.callee.name];
      if (special && !env.lookup(expr.callee.name)) return special(expr, env);
      const builtin = BUILTINS[expr.callee.name];
      if (builtin && !env.lookup(expr.callee.name)) {
        const args = expr.args.map((a) => {
          if (a.name) fail('bad-argument', `${expr.callee.name}() takes no named arguments`, a.span);
          return asNumber(evaluate(a.value, env), a.value.span, env);
        });
        const arity = BUILTIN_ARITY[expr.callee.name];
        if (arity !== undefined && args.length !== arity) {
          fail('arity', `${expr.callee.name}() takes ${arity} argument${arity === 1 ? '' : 's'}, got ${args.length}`, expr.span);
        }
        return num(builtin(args, expr.span));
      }
      return { t: 'call', name: expr.callee.name, args: evaluateArgs(expr.args, env), span: expr.span };
    }
    case 'index': {
      const target = evaluate(expr.target, env);
      const index = asInteger(evaluate(expr.index, env), expr.index.span, env);
      const items = target.t === 'list' ? target.v : target.t === 'dims' ? target.v.map(num) : undefined;
      if (!items) fail('type', `only lists and sizes can be indexed, not ${describe(target)}`, expr.target.span);
      const i = index < 0 ? items.length + index : index;
      if (i < 0 || i >= items.length) fail('index', `index ${index} is outside a list of ${items.length}`, expr.index.span, 'lists are indexed from 0');
      return items[i];
    }
    case 'range': {
      const from = asInteger(evaluate(expr.from, env), expr.from.span, env);
      const to = asInteger(evaluate(expr.to, env), expr.to.span, env);
      if (to - from > 1_000_000) fail('range', `the range ${from}..${to} is too long`, expr.span);
      const items: Value[] = [];
      for (let i = from; i <= to; i++) items.push(num(i));
      return { t: 'list', v: items };
    }
  }
}

type CallExpr = Extract<Expr, { kind: 'call' }>;

/** The positional arguments of a built-in that takes exactly `arity` of them, evaluated. */
function builtinArgs(expr: CallExpr, env: Env, arity: number): { value: Value; span: Span }[] {
  const name = expr.callee.name;
  if (expr.args.length !== arity) fail('arity', `${name}() takes ${arity} argument${arity === 1 ? '' : 's'}, got ${expr.args.length}`, expr.span, `for example ${BUILTIN_EXAMPLES[name]}`);
  return expr.args.map((a) => {
    if (a.name) fail('bad-argument', `${name}() takes no named arguments`, a.span);
    return { value: evaluate(a.value, env), span: a.value.span };
  });
}

const BUILTIN_EXAMPLES: Record<string, string> = { len: 'len(widths)', str: 'str(i)', outer: 'outer([1, 2, 1], [1, 2, 1])' };

/** Built-ins on values other than numbers. */
const SPECIAL_BUILTINS: Record<string, (expr: CallExpr, env: Env) => Value> = {
  /** `len(list)`: the number of items of a list, a range or a size (`3x3` has 2). */
  len: (expr, env) => {
    const [{ value, span }] = builtinArgs(expr, env, 1);
    if (value.t === 'list' || value.t === 'dims') return num(value.v.length);
    return fail('type', `len() takes a list or a size, not ${describe(value)}`, span, 'for example len(widths) with widths = [64, 128]');
  },
  /** `str(x)`: a number, boolean or string as text, for computed names (`"section_" + str(i)`). */
  str: (expr, env) => {
    const [{ value, span }] = builtinArgs(expr, env, 1);
    switch (value.t) {
      case 'num':
        return { t: 'str', v: formatNumber(value.v) };
      case 'str':
        return value;
      case 'bool':
        return { t: 'str', v: String(value.v) };
      case 'sym':
        // An unbound name is most likely a misspelt variable: "section_" + str(j) must not give "section_j".
        return unknownName(value, span, env, 'a number, a string or true/false');
      default:
        return fail('type', `str() takes a number, a string or true/false, not ${describe(value)}`, span, 'for example str(i) with i a loop variable');
    }
  },
  /** `outer(a, b)`: the outer product of two lists of numbers, a list of rows `a[i] * b[j]` (a separable kernel). */
  outer: (expr, env) => {
    const [a, b] = builtinArgs(expr, env, 2).map(({ value, span }) => numbers(value, span, env, 'outer()'));
    return { t: 'list', v: a.map((x) => ({ t: 'list', v: b.map((y) => num(x * y)) })) };
  },
};

/** A flat list (or size) of numbers. */
function numbers(v: Value, span: Span, env: Env, owner: string): number[] {
  if (v.t === 'dims') return v.v;
  if (v.t !== 'list') fail('type', `${owner} takes lists of numbers, not ${describe(v)}`, span, 'for example outer([1, 2, 1], [1, 2, 1])');
  return v.v.map((item) => asNumber(item, span, env));
}

export function evaluateArgs(args: Arg[], env: Env): BoundArg[] {
  return args.map((a) => ({
    ...(a.name ? { name: a.name.name, nameSpan: a.name.span } : {}),
    value: evaluate(a.value, env),
    span: a.value.span,
  }));
}

function lookupName(name: string, span: Span, env: Env): Value {
  const bound = env.lookup(name);
  if (bound) return bound;
  if (name in SHAPE_NAMES) {
    const shape = env.shape();
    if (!shape) fail('unknown-name', `'${name}' is only known inside a model, where a feature map flows`, span);
    if (shape.length !== 3 && name !== 'channels') fail('shape', `'${name}' needs a C×H×W feature map; here the value is a vector`, span);
    return num(shape[SHAPE_NAMES[name]]);
  }
  return { t: 'sym', name };
}

function binary(expr: Extract<Expr, { kind: 'binary' }>, env: Env): Value {
  if (expr.op === 'and' || expr.op === 'or') {
    const left = asBool(evaluate(expr.left, env), expr.left.span, env);
    if (expr.op === 'and' && !left) return bool(false);
    if (expr.op === 'or' && left) return bool(true);
    return bool(asBool(evaluate(expr.right, env), expr.right.span, env));
  }
  const lv = evaluate(expr.left, env);
  const rv = evaluate(expr.right, env);
  if (expr.op === '==' || expr.op === '!=') {
    const same = equal(lv, rv);
    return bool(expr.op === '==' ? same : !same);
  }
  if (expr.op === '+' && (lv.t === 'str' || rv.t === 'str')) return concatStrings(lv, rv, expr, env);
  if ((expr.op === '*' || expr.op === '/') && (lv.t === 'list' || rv.t === 'list')) return scaleList(lv, rv, expr, env);
  const a = asNumber(lv, expr.left.span, env);
  const b = asNumber(rv, expr.right.span, env);
  const byZero = () => fail('arithmetic', 'division by zero', expr.right.span, 'this divisor is 0 here; guard it, e.g. (c // g if g > 0 else c)');
  switch (expr.op) {
    case '+':
      return num(a + b);
    case '-':
      return num(a - b);
    case '*':
      return num(a * b);
    case '/':
      if (b === 0) byZero();
      return num(a / b);
    case '//':
      if (b === 0) byZero();
      return num(Math.floor(a / b));
    case '%':
      if (b === 0) byZero();
      return num(a - b * Math.floor(a / b));
    case '**':
      return num(a ** b);
    case '<':
      return bool(a < b);
    case '<=':
      return bool(a <= b);
    case '>':
      return bool(a > b);
    case '>=':
      return bool(a >= b);
  }
}

/** `"section_" + str(i)`: both sides must be strings (numbers go through str(), as in Python). */
function concatStrings(lv: Value, rv: Value, expr: Extract<Expr, { kind: 'binary' }>, env: Env): Value {
  const side = (v: Value, span: Span): string => {
    if (v.t === 'str') return v.v;
    if (v.t === 'sym') unknownName(v, span, env, 'a string');
    return fail('type', `only strings are joined with +, not ${describe(v)}`, span, `convert it with str(...), e.g. "section_" + str(i)`);
  };
  return { t: 'str', v: side(lv, expr.left.span) + side(rv, expr.right.span) };
}

/** A (nested) list times or divided by a number, element by element: `outer(a, b) / 16`. */
function scaleList(lv: Value, rv: Value, expr: Extract<Expr, { kind: 'binary' }>, env: Env): Value {
  if (lv.t === 'list' && rv.t === 'list') fail('type', `a list ${expr.op} a list is not defined`, expr.span, 'multiply or divide a list by a number, e.g. outer(a, b) / 16');
  if (rv.t === 'list' && expr.op === '/') fail('type', 'a number cannot be divided by a list', expr.right.span, 'divide the list by the number instead');
  const [list, scalar, scalarSpan] = lv.t === 'list' ? [lv, rv, expr.right.span] : [rv as Extract<Value, { t: 'list' }>, lv, expr.left.span];
  const k = asNumber(scalar, scalarSpan, env);
  if (expr.op === '/' && k === 0) fail('arithmetic', 'division by zero', expr.right.span, 'this divisor is 0 here');
  const apply = (v: Value): Value => {
    if (v.t === 'list') return { t: 'list', v: v.v.map(apply) };
    const x = asNumber(v, lv.t === 'list' ? expr.left.span : expr.right.span, env);
    return num(expr.op === '*' ? x * k : x / k);
  };
  return apply(list);
}

function equal(a: Value, b: Value): boolean {
  if (a.t !== b.t) return false;
  switch (a.t) {
    case 'sym':
      return a.name === (b as typeof a).name;
    case 'dims':
    case 'list':
      return JSON.stringify(a.v) === JSON.stringify((b as typeof a).v);
    case 'call':
      return false;
    default:
      return a.v === (b as typeof a).v;
  }
}

/** Explains why a value is not the number (or boolean) that was wanted: most often a misspelt variable. */
function unknownName(v: Value, span: Span, env: Env, wanted: string): never {
  if (v.t === 'sym') {
    const known = [...new Set([...env.names(), ...(env.shape() ? Object.keys(SHAPE_NAMES) : [])])];
    const suggestion = closest(v.name, known);
    const listed = known.length > 8 ? `${known.slice(0, 8).join(', ')}, ...` : known.join(', ');
    fail('unknown-name', `unknown name '${v.name}'`, span, suggestion ? `did you mean '${suggestion}'?` : known.length ? `names here: ${listed}; let ${v.name} = ... defines it` : `no names are defined here; let ${v.name} = ... defines one`);
  }
  fail('type', `expected ${wanted}, got ${describe(v)}`, span, typeHint(v, wanted));
}

/** What to write instead of a value of the wrong type. */
function typeHint(v: Value, wanted: string): string {
  switch (v.t) {
    case 'str':
      return wanted === 'a number' ? 'write numbers in digits and without quotes, e.g. 8' : `write ${wanted} without quotes`;
    case 'dims':
    case 'list':
      return `pick one item with an index, e.g. ${v.t === 'dims' ? v.v.join('x') : 'xs'}[0]`;
    case 'num':
      return 'compare it to get true or false, e.g. stride > 1';
    case 'bool':
      return 'true and false are not numbers; choose with a conditional, e.g. (2 if flag else 1)';
    default:
      return `a call here names a layer, block or quantizer; built-in functions: ${[...Object.keys(BUILTINS), ...Object.keys(SPECIAL_BUILTINS)].join(', ')}`;
  }
}

export function asNumber(v: Value, span: Span, env: Env): number {
  if (v.t === 'num') return v.v;
  return unknownName(v, span, env, 'a number');
}

export function asInteger(v: Value, span: Span, env: Env): number {
  const n = asNumber(v, span, env);
  if (!Number.isInteger(n)) fail('type', `expected a whole number, got ${formatNumber(n)}`, span, 'round it with round(x), floor(x) or ceil(x)');
  return n;
}

export function asBool(v: Value, span: Span, env: Env): boolean {
  if (v.t === 'bool') return v.v;
  return unknownName(v, span, env, 'true or false');
}
