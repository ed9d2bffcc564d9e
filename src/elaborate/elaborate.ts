/**
 * The elaborator: syntax tree → typed graph. It evaluates arguments, expands blocks, repetition, loops,
 * shortcuts and fractals by driving the GraphBuilder, and reports language-level errors (unknown names,
 * wrong arity, recursion, a declared fractal depth that the expansion contradicts, the node budget).
 * Judging the finished graph (shapes at adds and joins, precision) is the checker's job.
 */
import type { Arg, BlockDecl, Expr, ModelDecl, NameRef, SourceFile, Statement } from '../../grammar/ast.js';
import { closest, error, type Diagnostic, type Span } from '../diagnostics.js';
import { GraphBuilder, NodeBudgetExceeded, type QuantizerSpec, type Tensor } from '../graph/builder.js';
import type { Graph, JoinMode } from '../graph/types.js';
import { asInteger, Env, evaluate, evaluateArgs, EvalError, fail } from './evaluate.js';
import { convertArg, convertQuantizer, LAYERS, type ArgDef } from './layers.js';
import { asSource, describe, isNone, num, type BoundArg, type Value } from './values.js';
import { shapeToString } from '../graph/shapes.js';

export interface ElaborateOptions {
  /** Which model to build when the file has several. */
  model?: string;
  /** Overrides for the model's parameters: values, or expressions evaluated where the model begins. */
  params?: Record<string, number | boolean | string | Expr>;
  nodeBudget?: number;
}

export interface ElaborateResult {
  graph?: Graph;
  diagnostics: Diagnostic[];
}

const JOINS: JoinMode[] = ['mean', 'sum', 'max', 'concat'];
/** How `parallel` joins its branches. */
const PARALLEL_JOINS = ['sum', 'concat', 'multiply'] as const;
type ParallelJoin = (typeof PARALLEL_JOINS)[number];

/** A computed name must be usable as a scope: it becomes part of parameter names and generated code. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Combinators: calls that take a body `{ ... }` and wrap it in a shortcut or a fractal. */
const COMBINATORS: Record<string, { args: ArgDef[]; positional: number; summary: string }> = {
  residual: {
    args: [{ name: 'shortcut', type: 'value', doc: 'a projection block or layer for the shortcut path; none for identity' }],
    positional: 1,
    summary: 'x + body(x) (Bi-Real / ResNet shortcut)',
  },
  concat: { args: [], positional: 0, summary: 'concat(x, body(x)) along channels (DenseNet shortcut)' },
  fractal: {
    args: [
      { name: 'columns', type: 'count', required: true, doc: 'number of columns C' },
      { name: 'join', type: 'value', doc: 'mean (default), sum, max or concat' },
      { name: 'drop_path', type: 'rate', doc: 'local drop-path rate' },
      { name: 'global_drop_path', type: 'rate', doc: 'share of batches that keep one column' },
      { name: 'depth', type: 'count', doc: 'declared deepest path, checked against 2^(C-1)' },
    ],
    positional: 1,
    summary: 'FractalNet expansion f(k+1)(z) = join(f(k)(f(k)(z)), unit(z))',
  },
  parallel: {
    args: [{ name: 'join', type: 'value', doc: 'sum (default), concat or multiply' }],
    positional: 1,
    summary: 'branch { ... } bodies on the same input, joined by sum, channel concat or multiply',
  },
  add_into: { args: [], positional: 0, summary: "x with body(x) added into x's last channels (MeliusNet)" },
};

export function elaborate(ast: SourceFile, options: ElaborateOptions = {}): ElaborateResult {
  const diagnostics: Diagnostic[] = [];
  const model = pickModel(ast, options.model, diagnostics);
  if (!model) return { diagnostics };
  return new Elaborator(ast, model, options, diagnostics).run();
}

function pickModel(ast: SourceFile, wanted: string | undefined, diagnostics: Diagnostic[]): ModelDecl | undefined {
  const file = ast.file;
  const anywhere: Span = { file, line: 1, column: 1, offset: 0, length: 1 };
  const seen = new Map<string, ModelDecl>();
  for (const m of ast.models) {
    const first = seen.get(m.name.name);
    if (first) diagnostics.push(error('duplicate', `model '${m.name.name}' is defined twice`, m.name.span, `the first definition is at line ${first.name.span.line}`));
    else seen.set(m.name.name, m);
  }
  if (seen.size < ast.models.length) return undefined;
  if (wanted !== undefined) {
    const found = ast.models.find((m) => m.name.name === wanted);
    if (!found) {
      const names = ast.models.map((m) => m.name.name);
      const suggestion = closest(wanted, names);
      diagnostics.push(error('unknown-model', `no model named '${wanted}' in this file`, anywhere, suggestion ? `did you mean '${suggestion}'?` : `models here: ${names.join(', ') || 'none'}`));
    }
    return found;
  }
  if (ast.models.length === 0) {
    diagnostics.push(error('no-model', 'this file defines no model', anywhere, 'add one: model name { input 3x32x32; classes 10; ... }'));
    return undefined;
  }
  if (ast.models.length > 1) {
    diagnostics.push(
      error('several-models', `this file defines ${ast.models.length} models: ${ast.models.map((m) => m.name.name).join(', ')}`, ast.models[1].name.span, 'pick one with --model NAME'),
    );
    return undefined;
  }
  return ast.models[0];
}

class Elaborator {
  private readonly blocks = new Map<string, BlockDecl>();
  private readonly callStack: string[] = [];
  private budgetSpan: Span | undefined;
  /**
   * How many builder diagnostics there were when the first statement failed. A failed statement leaves
   * the feature map as it was before it, so later shape messages would describe stale shapes: they are
   * dropped (the cascade stops; other errors are still reported).
   */
  private builderCutoff: number | undefined;
  private builder!: GraphBuilder;
  private modelEnv!: Env;

  constructor(
    private readonly ast: SourceFile,
    private readonly model: ModelDecl,
    private readonly options: ElaborateOptions,
    private readonly diagnostics: Diagnostic[],
  ) {}

  run(): ElaborateResult {
    this.collectBlocks();
    this.modelEnv = new Env(undefined);
    this.bindModelParams();
    const settings = this.readSettings();
    if (!settings) return { diagnostics: this.diagnostics };
    this.builder = new GraphBuilder({ name: this.model.name.name, input: settings.input, classes: settings.classes, nodeBudget: this.options.nodeBudget });
    let out: Tensor;
    try {
      out = this.execBody(this.model.body, this.modelEnv, this.builder.input());
    } catch (e) {
      if (!(e instanceof NodeBudgetExceeded)) throw e;
      const where = this.budgetSpan ?? this.model.name.span;
      this.diagnostics.push(
        error('node-budget', `expanding this exceeds the node budget of ${e.budget.toLocaleString('en-US')} nodes`, where, 'check the fractal columns and repetition counts, or raise the budget with --max-nodes N'),
      );
      return { diagnostics: this.diagnostics };
    }
    this.diagnostics.push(...this.builder.diagnostics.slice(0, this.builderCutoff));
    return { graph: this.builder.finish(out), diagnostics: this.diagnostics };
  }

  // ------------------------------------------------------------ declarations

  private collectBlocks(): void {
    for (const decl of [...this.ast.blocks, ...this.model.blocks]) {
      const name = decl.name.name;
      if (LAYERS[name] || COMBINATORS[name] || name === 'branch') {
        this.report('duplicate', `a block cannot be called '${name}': that is a built-in ${LAYERS[name] ? 'layer' : name === 'branch' ? "word (parallel's paths)" : 'combinator'}`, decl.name.span, 'choose another name');
      } else if (this.blocks.has(name)) {
        this.report('duplicate', `block '${name}' is defined twice`, decl.name.span, `the first definition is at line ${this.blocks.get(name)!.name.span.line}`);
      } else {
        this.blocks.set(name, decl);
      }
    }
  }

  private bindModelParams(): void {
    const overrides = { ...(this.options.params ?? {}) };
    for (const p of this.model.params) {
      const name = p.name.name;
      if (name in overrides) {
        const v = overrides[name];
        if (typeof v === 'object') {
          const defined = this.attempt(() => (this.modelEnv.define(name, this.overrideValue(v, p.default)), true));
          // A bad --set is reported once; the default stands in so later uses do not cascade.
          if (!defined && p.default) this.attempt(() => this.modelEnv.define(name, evaluate(p.default!, this.modelEnv)));
        } else this.modelEnv.define(name, typeof v === 'number' ? num(v) : typeof v === 'boolean' ? { t: 'bool', v } : { t: 'sym', name: v });
        delete overrides[name];
      } else if (p.default) {
        this.attempt(() => this.modelEnv.define(name, evaluate(p.default!, this.modelEnv)));
      } else {
        this.report('missing-argument', `model parameter '${name}' has no default and no value was given`, p.name.span, `give it a default (${name} = ...) or a value with --set ${name}=...`);
      }
    }
    for (const name of Object.keys(overrides)) {
      const known = this.model.params.map((p) => p.name.name);
      const suggestion = closest(name, known);
      this.report('unknown-name', `model '${this.model.name.name}' has no parameter '${name}'`, this.model.name.span, suggestion ? `did you mean '${suggestion}'?` : known.length ? `its parameters: ${known.join(', ')}` : 'it takes no parameters');
    }
  }

  /**
   * A parameter's value from `--set`. An undefined name where the default is a number, boolean or list
   * is a typo in the flag, reported there rather than where the parameter is used.
   */
  private overrideValue(expr: Expr, fallback: Expr | undefined): Value {
    const value = evaluate(expr, this.modelEnv);
    if (value.t !== 'sym' || !fallback) return value;
    let expected: Value | undefined;
    try {
      expected = evaluate(fallback, this.modelEnv);
    } catch {
      return value;
    }
    if (expected.t === 'sym' || expected.t === 'call' || expected.t === 'str') return value;
    return fail('bad-argument', `'${value.name}' is not defined; the parameter's default is ${describe(expected)}`, expr.span, `give a value like its default, e.g. ${asSource(expected)}`);
  }

  /** `input` and `classes` sit at the top level of the model body and are read before anything is built. */
  private readSettings(): { input: number[]; classes: number } | undefined {
    let input: number[] | undefined;
    let classes: number | undefined;
    // A setting written but in error is reported where it stands, not again as missing.
    const written = new Set<string>();
    for (const s of this.model.body) {
      if (s.kind !== 'setting') continue;
      written.add(s.name.name);
      this.attempt(() => {
        const v = evaluate(s.value, this.modelEnv);
        if (s.name.name === 'input') {
          if (input) fail('duplicate', 'input is set twice', s.span);
          const dims = v.t === 'dims' ? v.v : v.t === 'list' ? v.v.map((item) => asInteger(item, s.value.span, this.modelEnv)) : undefined;
          if (!dims || dims.length !== 3 || dims.some((d) => !(Number.isInteger(d) && d > 0))) {
            fail('bad-argument', `input is a size C×H×W like 3x224x224, not ${describe(v)}`, s.value.span);
          }
          input = dims;
        } else {
          if (classes !== undefined) fail('duplicate', 'classes is set twice', s.span);
          const n = asInteger(v, s.value.span, this.modelEnv);
          if (n < 1) fail('bad-argument', `classes must be at least 1, got ${n}`, s.value.span);
          classes = n;
        }
      });
    }
    if (!written.has('input')) this.report('missing-setting', `model '${this.model.name.name}' sets no input`, this.model.name.span, 'add a line like: input 3x224x224');
    if (!written.has('classes')) this.report('missing-setting', `model '${this.model.name.name}' sets no classes`, this.model.name.span, 'add a line like: classes 1000');
    return input && classes !== undefined ? { input, classes } : undefined;
  }

  // ------------------------------------------------------------ statements

  /** Runs statements in order, threading the feature map through them. */
  private execBody(body: Statement[], parent: Env, x: Tensor): Tensor {
    const state = { current: x };
    const env = parent.child(() => state.current.shape);
    return this.execFrom(body, 0, env, state);
  }

  /** A `binarize` line changes the policy for the rest of its body, which runs inside it. */
  private execFrom(body: Statement[], start: number, env: Env, state: { current: Tensor }): Tensor {
    for (let i = start; i < body.length; i++) {
      const s = body[i];
      if (s.kind === 'binarize') {
        const policy = this.attempt(() => this.binarizePolicy(s.args, env));
        const rest = () => this.execFrom(body, i + 1, env, state);
        return policy ? this.builder.withBinarize(policy, rest, s.span) : rest();
      }
      state.current = this.execStatement(s, env, state.current);
    }
    return state.current;
  }

  private execStatement(s: Statement, env: Env, x: Tensor): Tensor {
    try {
      return this.attempt(() => this.dispatch(s, env, x)) ?? x;
    } catch (e) {
      // Remember the innermost statement that overflowed the budget, for the message.
      if (e instanceof NodeBudgetExceeded) this.budgetSpan ??= s.span;
      throw e;
    }
  }

  private dispatch(s: Statement, env: Env, x: Tensor): Tensor {
    switch (s.kind) {
      case 'setting':
        if (!this.model.body.includes(s)) fail('misplaced', `${s.name.name} is a model setting`, s.span, 'put it at the top level of the model body');
        return x;
      case 'let':
        env.define(s.name.name, evaluate(s.value, env));
        return x;
      case 'stage':
        return this.builder.scope(this.nameOf(s.name, env), () => this.execBody(s.body, env, x));
      case 'if': {
        const cond = evaluate(s.cond, env);
        if (cond.t !== 'bool') fail('type', `an if needs true or false, got ${describe(cond)}`, s.cond.span);
        if (cond.v) return this.execBody(s.then, env, x);
        return s.otherwise ? this.execBody(s.otherwise, env, x) : x;
      }
      case 'for': {
        const iterable = evaluate(s.iterable, env);
        const items = iterable.t === 'list' ? iterable.v : iterable.t === 'dims' ? iterable.v.map(num) : undefined;
        if (!items) fail('type', `for needs a list or a range like 1..4, got ${describe(iterable)}`, s.iterable.span);
        let current = x;
        for (const item of items) {
          const loopEnv = env.child(() => current.shape);
          loopEnv.define(s.variable.name, item);
          current = this.execBody(s.body, loopEnv, current);
        }
        return current;
      }
      case 'binarize':
        return x; // handled by execFrom
      case 'call':
        return this.execCall(s, env, x);
    }
  }

  /** The policy a `binarize` line sets; an argument in error is reported and the others still apply. */
  private binarizePolicy(args: Arg[], env: Env): { activations?: QuantizerSpec; weights?: QuantizerSpec } {
    const policy: { activations?: QuantizerSpec; weights?: QuantizerSpec } = {};
    for (const a of args) this.attempt(() => this.binarizeArg(a, env, policy));
    return policy;
  }

  private binarizeArg(a: Arg, env: Env, policy: { activations?: QuantizerSpec; weights?: QuantizerSpec }): void {
    const key = a.name!.name;
    if (key !== 'activations' && key !== 'weights') {
      const suggestion = closest(key, ['activations', 'weights']);
      fail('unknown-name', `binarize sets activations and weights, not '${key}'`, a.name!.span, suggestion ? `did you mean '${suggestion}'?` : undefined);
    }
    const value = evaluate(a.value, env);
    policy[key] = convertQuantizer(value, a.value.span, env, key === 'activations' ? 'activation' : 'weight');
  }

  private execCall(s: Extract<Statement, { kind: 'call' }>, env: Env, x: Tensor): Tensor {
    let times = 1;
    if (s.repeat) {
      times = asInteger(evaluate(s.repeat, env), s.repeat.span, env);
      if (times < 0) fail('bad-argument', `a repetition count cannot be negative, got ${times}`, s.repeat.span);
      // Every repetition adds at least one node.
      if (times > this.builder.remainingBudget) throw new NodeBudgetExceeded(this.builder.size + this.builder.remainingBudget);
    }
    let current = x;
    for (let k = 0; k < times; k++) {
      const here = env.child(() => current.shape);
      const args = evaluateArgs(s.args, here);
      const label = s.label && this.nameOf(s.label, here);
      if (s.callee.name === 'branch') fail('misplaced', 'branch { ... } is one path of parallel', s.callee.span, 'write parallel(join = sum) { branch { ... } branch { ... } }');
      current = s.body
        ? this.inlineCombinator(s.callee.name, s.callee.span, args, s.body, env, current, label, s.span)
        : this.call(s.callee.name, s.callee.span, args, env, current, label, s.span);
    }
    return current;
  }

  /** A written name, or a computed one: a string (or bare name) that is a valid identifier. */
  private nameOf(ref: NameRef, env: Env): string {
    if (!('computed' in ref)) return ref.name;
    const v = evaluate(ref.computed, env);
    // A bare unbound name here is a misspelt variable (a fixed name is written without parentheses).
    const name = v.t === 'str' ? v.v : fail('type', `a computed name is a string, not ${describe(v)}`, ref.span, v.t === 'sym' ? `'${v.name}' is not a variable here; a fixed name goes without parentheses: stage ${v.name} { ... }` : 'build it from strings, e.g. ("section_" + str(i))');
    if (!IDENTIFIER.test(name)) {
      fail('bad-name', `the computed name "${name}" is not a valid name`, ref.span, 'names start with a letter or _ and hold only letters, digits and _, e.g. ("section_" + str(i))');
    }
    return name;
  }

  /**
   * Runs a layer or a block by name with evaluated arguments. `inline` runs a block in the current
   * scope instead of a numbered one of its own (a projection already sits in `shortcut`).
   */
  private call(name: string, nameSpan: Span, args: BoundArg[], env: Env, x: Tensor, label: string | undefined, span: Span, inline = false): Tensor {
    const layer = LAYERS[name];
    if (layer) {
      const a = this.bind(layer.args, layer.positional, args, name, span, env);
      const at = (arg: string) => args.find((b, i) => (b.name ?? layer.args[i]?.name) === arg)?.span ?? span;
      return layer.build(this.builder, x, a, { ...(label ? { name: label } : {}), source: span }, at);
    }
    const block = this.blocks.get(name);
    if (block) return this.callBlock(block, args, x, label, span, inline);
    if (COMBINATORS[name]) fail('missing-body', `${name} wraps a body`, span, `write ${name}(...) { layers }`);
    const suggestion = closest(name, [...Object.keys(LAYERS), ...this.blocks.keys(), ...Object.keys(COMBINATORS)]);
    return fail('unknown-name', `unknown layer or block '${name}'`, nameSpan, suggestion ? `did you mean '${suggestion}'?` : 'define it with block ' + name + '(...) { ... }');
  }

  /** Runs a call written as a value, e.g. the projection in `residual(shortcut = project(ch))`. */
  private callValue(v: Value, span: Span, env: Env, x: Tensor): Tensor {
    if (v.t === 'call') return this.call(v.name, v.span, v.args, env, x, undefined, v.span, true);
    if (v.t === 'sym') return this.call(v.name, span, [], env, x, undefined, span, true);
    return fail('type', `expected a block or layer to run, got ${describe(v)}`, span);
  }

  private callBlock(decl: BlockDecl, args: BoundArg[], x: Tensor, label: string | undefined, span: Span, inline = false): Tensor {
    const name = decl.name.name;
    if (this.callStack.includes(name)) {
      const cycle = [...this.callStack.slice(this.callStack.indexOf(name)), name].join(' → ');
      fail('recursion', `block '${name}' calls itself (${cycle})`, span, 'blocks cannot recurse; use fractal(...) or repetition (* n) to expand structure');
    }
    const blockEnv = this.modelEnv.child(() => x.shape);
    this.bindParams(decl, args, blockEnv, span);
    this.callStack.push(name);
    try {
      const build = () => {
        if (!decl.wrapper) return this.execBody(decl.body, blockEnv, x);
        const wrapperArgs = evaluateArgs(decl.wrapper.args, blockEnv);
        return this.combinator(decl.wrapper.callee.name, decl.wrapper.callee.span, wrapperArgs, decl.body, blockEnv, x, null, span);
      };
      if (inline) return build();
      return label ? this.builder.scope(label, build) : this.builder.block(name, build);
    } finally {
      this.callStack.pop();
    }
  }

  private bindParams(decl: BlockDecl, args: BoundArg[], env: Env, span: Span): void {
    const params = decl.params;
    const given = new Map<string, BoundArg>();
    let positional = 0;
    for (const a of args) {
      if (a.name === undefined) {
        if (positional >= params.length) {
          const count = args.filter((b) => b.name === undefined).length;
          fail('arity', `block '${decl.name.name}' takes ${params.length} argument${params.length === 1 ? '' : 's'}, got ${count}`, a.span, `its parameters: ${params.map((p) => p.name.name).join(', ') || 'none'}`);
        }
        given.set(params[positional++].name.name, a);
      } else {
        const p = params.find((q) => q.name.name === a.name);
        if (!p) {
          const suggestion = closest(a.name, params.map((q) => q.name.name));
          fail('unknown-name', `block '${decl.name.name}' has no parameter '${a.name}'`, a.nameSpan ?? a.span, suggestion ? `did you mean '${suggestion}'?` : `its parameters: ${params.map((q) => q.name.name).join(', ') || 'none'}`);
        }
        if (given.has(a.name)) fail('duplicate', `'${a.name}' is given twice`, a.nameSpan ?? a.span, 'give each argument once');
        given.set(a.name, a);
      }
    }
    for (const p of params) {
      const arg = given.get(p.name.name);
      if (arg) env.define(p.name.name, arg.value);
      else if (p.default) env.define(p.name.name, evaluate(p.default, env));
      else fail('arity', `block '${decl.name.name}' needs a value for '${p.name.name}'`, span, `call it as ${decl.name.name}(${params.map((q) => q.name.name).join(', ')})`);
    }
  }

  // ------------------------------------------------------------ combinators

  /** A combinator written inline (`fractal(columns = 3) { ... }`) opens a scope of its own name. */
  private inlineCombinator(name: string, nameSpan: Span, args: BoundArg[], body: Statement[], env: Env, x: Tensor, label: string | undefined, span: Span): Tensor {
    if (!COMBINATORS[name]) {
      if (LAYERS[name] || this.blocks.has(name)) fail('unexpected-body', `'${name}' takes no body`, nameSpan, `only ${Object.keys(COMBINATORS).join(', ')} wrap a body { ... }`);
      const suggestion = closest(name, Object.keys(COMBINATORS));
      fail('unknown-name', `unknown combinator '${name}'`, nameSpan, suggestion ? `did you mean '${suggestion}'?` : `combinators: ${Object.keys(COMBINATORS).join(', ')}`);
    }
    return this.combinator(name, nameSpan, args, body, env, x, label ?? name, span);
  }

  private combinator(name: string, nameSpan: Span, args: BoundArg[], body: Statement[], env: Env, x: Tensor, scope: string | null, span: Span): Tensor {
    const def = COMBINATORS[name];
    if (!def) {
      const suggestion = closest(name, Object.keys(COMBINATORS));
      fail('unknown-name', `unknown combinator '${name}'`, nameSpan, suggestion ? `did you mean '${suggestion}'?` : `combinators: ${Object.keys(COMBINATORS).join(', ')}`);
    }
    const raw = this.bindRaw(def.args, def.positional, args, name, span);
    const runBody = (z: Tensor) => this.execBody(body, env, z);
    const inScope = <T>(fn: () => T): T => (scope === null ? fn() : this.builder.scope(scope, fn));
    switch (name) {
      case 'residual': {
        const shortcut = raw.get('shortcut');
        const projection = shortcut && !isNone(shortcut.value) ? (s: Tensor) => this.callValue(shortcut.value, shortcut.span, env, s) : null;
        return inScope(() => this.builder.residual(x, runBody, { shortcut: projection, source: span }));
      }
      case 'concat':
        return inScope(() => this.builder.denseShortcut(x, runBody, { source: span }));
      case 'parallel':
        return this.parallel(raw.get('join'), body, env, x, inScope, span);
      case 'add_into':
        return inScope(() => {
          const y = runBody(x);
          const [cx, ...mapX] = x.shape;
          const [cy, ...mapY] = y.shape;
          if (y.shape.length !== x.shape.length || mapY.some((d, i) => d !== mapX[i])) {
            fail('shape-mismatch', `add_into's body turns ${shapeToString(x.shape)} into ${shapeToString(y.shape)}: it must keep the height and width`, span, 'the body may change the channels (to at most as many), not the size of the map');
          }
          if (cy > cx) fail('shape-mismatch', `add_into's body gives ${cy} channels, more than the ${cx} it adds into`, span, `the body's output is added into the last of x's channels: give it at most ${cx}`);
          return this.builder.addInto(x, y, { source: span });
        });
      default:
        return this.fractal(raw, body, env, x, scope, span);
    }
  }

  /** `parallel(join = sum) { branch { ... } branch { ... } }`: every branch reads x; their outputs are joined. */
  private parallel(joinArg: BoundArg | undefined, body: Statement[], env: Env, x: Tensor, inScope: <T>(fn: () => T) => T, span: Span): Tensor {
    let join: ParallelJoin = 'sum';
    if (joinArg) {
      const v = joinArg.value;
      if (v.t !== 'sym' || !(PARALLEL_JOINS as readonly string[]).includes(v.name)) {
        const suggestion = v.t === 'sym' ? closest(v.name, [...PARALLEL_JOINS]) : undefined;
        const quoted = v.t === 'str' && (PARALLEL_JOINS as readonly string[]).includes(v.v);
        const hint = quoted ? `write it without quotes: join = ${v.v}` : suggestion ? `did you mean '${suggestion}'?` : 'sum adds the branches, concat stacks their channels, multiply scales the first by the second';
        fail('bad-argument', `parallel joins by ${PARALLEL_JOINS.join(', ')}, not ${describe(v)}`, joinArg.span, hint);
      }
      join = v.name as ParallelJoin;
    }
    const branches = body.filter((s) => !(s.kind === 'call' && s.callee.name === 'branch' && s.body && !s.args.length && !s.repeat && !s.parenthesized));
    for (const s of branches) fail('bad-parallel', "parallel's body holds only branch { ... } paths", s.span, 'put the layers inside a branch: parallel(join = sum) { branch { ... } branch { ... } }');
    const paths = body as Extract<Statement, { kind: 'call' }>[];
    if (paths.length < 2) fail('bad-parallel', `parallel needs at least 2 branches, got ${paths.length}`, span, 'an empty branch { } is the identity');
    if (join === 'multiply' && paths.length !== 2) fail('bad-parallel', `parallel(join = multiply) multiplies 2 branches, got ${paths.length}`, span, 'the first branch is scaled by the second (a vector of channels, as in squeeze-and-excite)');
    return inScope(() => {
      const outs = paths.map((p) => {
        const run = () => this.execBody(p.body!, env, x);
        const label = p.label && this.nameOf(p.label, env);
        return { t: label ? this.builder.scope(label, run) : this.builder.block('branch', run), span: p.span };
      });
      const first = outs[0].t;
      const shapes = () => outs.map((o) => shapeToString(o.t.shape)).join(', ');
      outs.forEach((o, i) => {
        if (i === 0) return;
        const a = first.shape;
        const b = o.t.shape;
        const sameShape = a.length === b.length && a.every((d, k) => d === b[k]);
        if (join === 'sum' && !sameShape) fail('shape-mismatch', `parallel(join = sum) cannot add branches of shapes ${shapes()}`, o.span, 'summed branches must give the same shape; concat stacks different channel counts');
        if (join === 'concat' && (a.length !== b.length || a.slice(1).some((d, k) => d !== b[k + 1]))) {
          fail('shape-mismatch', `parallel(join = concat) cannot stack branches of shapes ${shapes()}`, o.span, 'concatenated branches must agree in everything but channels');
        }
        if (join === 'multiply' && !sameShape && !(b.length === 1 && b[0] === a[0])) {
          fail('shape-mismatch', `parallel(join = multiply) cannot scale ${shapeToString(a)} by ${shapeToString(b)}`, o.span, `the second branch gives the first's shape or a vector of its ${a[0]} channels (e.g. global_avgpool; dense ${a[0]}; sigmoid)`);
        }
      });
      const tensors = outs.map((o) => o.t);
      if (join === 'sum') return this.builder.sum(tensors, { source: span });
      if (join === 'concat') return this.builder.concat(tensors, { source: span });
      return this.builder.multiply(tensors[0], tensors[1], { source: span });
    });
  }

  private fractal(raw: Map<string, BoundArg>, body: Statement[], env: Env, x: Tensor, scope: string | null, span: Span): Tensor {
    const get = (key: string) => raw.get(key);
    const convert = (key: string) => {
      const a = get(key);
      return a ? convertArg(COMBINATORS.fractal.args.find((d) => d.name === key)!, a.value, a.span, env, 'fractal') : undefined;
    };
    const columns = convert('columns') as number;
    let join: JoinMode = 'mean';
    const joinArg = get('join');
    if (joinArg) {
      const v = joinArg.value;
      if (v.t !== 'sym' || !(JOINS as string[]).includes(v.name)) {
        const suggestion = v.t === 'sym' || v.t === 'str' ? closest(v.t === 'sym' ? v.name : v.v, JOINS) : undefined;
        const hint = v.t === 'str' && (JOINS as string[]).includes(v.v) ? `write it without quotes: join = ${v.v}` : suggestion ? `did you mean '${suggestion}'?` : 'join = mean averages the columns (FractalNet, the default); sum adds them, max takes the largest, concat stacks their channels';
        fail('bad-argument', `a fractal join is one of ${JOINS.join(', ')}, not ${describe(v)}`, joinArg.span, hint);
      }
      join = v.name as JoinMode;
    }
    const dropPath = (convert('drop_path') as number | undefined) ?? 0;
    const globalDropPath = (convert('global_drop_path') as number | undefined) ?? 0;
    const depthArg = get('depth');
    if (depthArg) {
      const depth = convert('depth') as number;
      const expanded = 2 ** (columns - 1);
      if (depth !== expanded) {
        this.report('depth-mismatch', `declared depth ${depth} does not match the expansion: ${columns} column${columns === 1 ? '' : 's'} give a deepest path of ${expanded} unit${expanded === 1 ? '' : 's'}`, depthArg.span, depthHint(depth, expanded));
      }
    }
    // A body that is a single block call names each instance after the block (col3/unit1); anything
    // else is wrapped in numbered `unit` scopes.
    const single = body.length === 1 && body[0].kind === 'call' && !body[0].body && !body[0].repeat && !body[0].label && this.blocks.has(body[0].callee.name);
    const unit = (z: Tensor) => (single ? this.execBody(body, env, z) : this.builder.block('unit', () => this.execBody(body, env, z)));
    return this.builder.fractal(x, { columns, join, dropPath, globalDropPath, scope: scope === null ? null : scope, source: span }, unit);
  }

  // ------------------------------------------------------------ arguments

  /** Matches arguments to definitions: positional first, then by name. */
  private bindRaw(defs: ArgDef[], positional: number, args: BoundArg[], owner: string, span: Span): Map<string, BoundArg> {
    const bound = new Map<string, BoundArg>();
    let index = 0;
    for (const a of args) {
      if (a.name === undefined) {
        if (index >= positional) {
          const names = defs.slice(0, positional).map((d) => d.name);
          fail('arity', `${owner} takes ${positional === 0 ? 'no' : `at most ${positional}`} positional argument${positional === 1 ? '' : 's'}${names.length ? ` (${names.join(', ')})` : ''}`, a.span, defs.length ? `name the others: ${defs.map((d) => `${d.name}=...`).join(', ')}` : `${owner} takes no arguments`);
        }
        bound.set(defs[index++].name, a);
        continue;
      }
      const def = defs.find((d) => d.name === a.name);
      if (!def) {
        const suggestion = closest(a.name, defs.map((d) => d.name));
        fail('unknown-name', `${owner} has no argument '${a.name}'`, a.nameSpan ?? a.span, suggestion ? `did you mean '${suggestion}'?` : defs.length ? `its arguments: ${defs.map((d) => d.name).join(', ')}` : `${owner} takes no arguments`);
      }
      if (bound.has(a.name)) fail('duplicate', `${owner}'s ${a.name} is given twice`, a.nameSpan ?? a.span, 'give each argument once (positional arguments count too)');
      bound.set(a.name, a);
    }
    for (const d of defs) {
      if (d.required && !bound.has(d.name)) fail('arity', `${owner} needs ${d.name} (${d.doc})`, span, `arguments in order: ${defs.slice(0, positional).map((x) => x.name).join(', ') || 'none'}; the rest by name`);
    }
    return bound;
  }

  private bind(defs: ArgDef[], positional: number, args: BoundArg[], owner: string, span: Span, env: Env): Record<string, unknown> {
    const raw = this.bindRaw(defs, positional, args, owner, span);
    const out: Record<string, unknown> = {};
    for (const d of defs) {
      const a = raw.get(d.name);
      if (a) out[d.name] = convertArg(d, a.value, a.span, env, owner);
    }
    return out;
  }

  // ------------------------------------------------------------ diagnostics

  private attempt<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (e) {
      if (e instanceof EvalError) {
        const stale = this.builderCutoff !== undefined && SHAPE_CODES.has(e.diagnostic.code);
        if (!stale) this.diagnostics.push(e.diagnostic);
        if (this.builder) this.builderCutoff ??= this.builder.diagnostics.length;
        return undefined;
      }
      throw e;
    }
  }

  private report(code: string, message: string, span: Span, hint?: string): void {
    this.diagnostics.push(error(code, message, span, hint));
  }
}

/** Errors about shapes, which a statement that failed earlier (and so left a stale shape) can cause. */
const SHAPE_CODES = new Set(['shape', 'shape-mismatch']);

/** What fixes a declared fractal depth: the expansion's depth, or the columns that give the declared one. */
function depthHint(depth: number, expanded: number): string {
  const columns = Math.log2(depth) + 1;
  const alternative = Number.isInteger(columns) ? `, or columns = ${columns} for a depth of ${depth}` : ` (no number of columns gives a depth of ${depth}: depths are powers of 2)`;
  return `the deepest path is 2^(columns-1); use depth = ${expanded}${alternative}`;
}
