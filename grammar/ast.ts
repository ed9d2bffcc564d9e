/**
 * The syntax tree of a `.sofar` file: what the parser makes and the elaborator reads. Every node keeps
 * the span of the text it came from, so later stages can point at it. The grammar knows nothing of
 * graphs, layers or quantizers: a layer statement is a call like any other.
 */
import type { Span } from './diagnostic.js';

export interface Identifier {
  name: string;
  span: Span;
}

export type Expr =
  | { kind: 'number'; value: number; span: Span }
  | { kind: 'bool'; value: boolean; span: Span }
  | { kind: 'string'; value: string; span: Span }
  /** `3x3`, `3x224x224` */
  | { kind: 'dims'; value: number[]; span: Span }
  | { kind: 'name'; name: string; span: Span }
  | { kind: 'list'; items: Expr[]; span: Span }
  | { kind: 'unary'; op: '-' | '+' | 'not'; operand: Expr; span: Span }
  | { kind: 'binary'; op: BinaryOp; left: Expr; right: Expr; span: Span }
  /** `a if cond else b`; without `else` the value is `none`. */
  | { kind: 'conditional'; then: Expr; cond: Expr; otherwise?: Expr; span: Span }
  | { kind: 'call'; callee: Identifier; args: Arg[]; span: Span }
  | { kind: 'index'; target: Expr; index: Expr; span: Span }
  /** `a..b`: the integers a, a+1, ..., b (inclusive). */
  | { kind: 'range'; from: Expr; to: Expr; span: Span };

export type BinaryOp = '+' | '-' | '*' | '/' | '//' | '%' | '**' | '==' | '!=' | '<' | '<=' | '>' | '>=' | 'and' | 'or';

/** A positional (`name` absent) or named argument. `/2` after a layer is sugar for `stride = 2`. */
export interface Arg {
  name?: Identifier;
  value: Expr;
  span: Span;
}

/**
 * A stage or layer name: written (`stage conv2`, `stem:`) or computed (`stage ("section_" + str(i))`,
 * `("unit" + str(i)): unit(64)`), a parenthesised expression that must evaluate to an identifier.
 */
export type NameRef = Identifier | { computed: Expr; span: Span };

export type Statement =
  /**
   * A layer, a block call or a combinator: `conv 3x3 64 /2`, `unit(64, stride = 2) * 3`,
   * `fractal(columns = 4) { unit(ch) }`. `label:` names the layer explicitly.
   */
  | {
      kind: 'call';
      label?: NameRef;
      callee: Identifier;
      args: Arg[];
      /** Whether the arguments were written in parentheses (`f(a, b)`) or bare (`f a b`). */
      parenthesized: boolean;
      body?: Statement[];
      repeat?: Expr;
      span: Span;
    }
  | { kind: 'stage'; name: NameRef; body: Statement[]; span: Span }
  | { kind: 'if'; cond: Expr; then: Statement[]; otherwise?: Statement[]; span: Span }
  | { kind: 'for'; variable: Identifier; iterable: Expr; body: Statement[]; span: Span }
  | { kind: 'let'; name: Identifier; value: Expr; span: Span }
  | { kind: 'binarize'; args: Arg[]; span: Span }
  /** Model settings, only valid at the top of a model body: `input 3x32x32`, `classes 10`. */
  | { kind: 'setting'; name: Identifier; value: Expr; span: Span };

export interface Param {
  name: Identifier;
  default?: Expr;
  span: Span;
}

/** `block unit(ch, stride = 1) = residual(shortcut = ...) { ... }` */
export interface BlockDecl {
  kind: 'block';
  name: Identifier;
  params: Param[];
  /** The combinator the body is wrapped in (`= residual(...)`), if any. */
  wrapper?: { callee: Identifier; args: Arg[]; span: Span };
  body: Statement[];
  span: Span;
}

/** `model name(params) { ... }` */
export interface ModelDecl {
  kind: 'model';
  name: Identifier;
  params: Param[];
  blocks: BlockDecl[];
  body: Statement[];
  span: Span;
}

export interface SourceFile {
  file: string;
  blocks: BlockDecl[];
  models: ModelDecl[];
}
