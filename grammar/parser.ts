/**
 * The parser: tokens → syntax tree (grammar/ast.ts), with chevrotain's error recovery so one run reports
 * several syntax errors. The grammar is generic: a layer, a block call and a combinator are all calls;
 * the elaborator gives them meaning.
 */
import type { IToken, TokenType, IParserErrorMessageProvider, ParserMethod } from 'chevrotain';
import { EmbeddedActionsParser } from './chevrotain.js';
import type { Arg, BinaryOp, BlockDecl, Expr, Identifier as Ident, ModelDecl, NameRef, Param, SourceFile, Statement } from './ast.js';
import type { Span } from './diagnostic.js';
import * as T from './lexer.js';

const describeToken = (t: IToken): string =>
  t.tokenType.name === 'EOF' ? 'end of file' : t.tokenType === T.Newline ? 'end of line' : `'${t.image}'`;

const tokenLabel = (t: TokenType): string => t.LABEL ?? t.name;

/** The end of the message for text after the last model or block (see buildMismatchTokenMessage). */
export const OUTSIDE = 'is outside any model or block';

/** Plain-language syntax errors: "expected '}', found 'x'". */
const messages: IParserErrorMessageProvider = {
  // The file rule expects EOF only after its last model or block: what follows stands outside them all.
  buildMismatchTokenMessage: ({ expected, actual }) =>
    expected.name === 'EOF' ? `${describeToken(actual)} ${OUTSIDE}` : `expected ${tokenLabel(expected)}, found ${describeToken(actual)}`,
  buildNotAllInputParsedMessage: ({ firstRedundant }) => `unexpected ${describeToken(firstRedundant)}`,
  buildNoViableAltMessage: ({ expectedPathsPerAlt, actual, ruleName }) => {
    const firsts = new Set<string>();
    for (const alt of expectedPathsPerAlt) for (const path of alt) if (path[0]) firsts.add(tokenLabel(path[0]));
    const list = [...firsts].slice(0, 6).join(', ');
    return `unexpected ${describeToken(actual[0])} in ${RULE_NAMES[ruleName] ?? ruleName}${list ? `; expected ${list}` : ''}`;
  },
  buildEarlyExitMessage: ({ expectedIterationPaths, actual, ruleName }) => {
    const firsts = new Set<string>();
    for (const path of expectedIterationPaths) if (path[0]) firsts.add(tokenLabel(path[0]));
    return `expected ${[...firsts].join(' or ')} in ${RULE_NAMES[ruleName] ?? ruleName}, found ${describeToken(actual[0])}`;
  },
};

const RULE_NAMES: Record<string, string> = {
  file: 'the file',
  modelDecl: 'a model',
  blockDecl: 'a block',
  statement: 'a statement',
  callStatement: 'a layer or block call',
  stageStatement: 'a stage',
  nameRef: 'a name',
  bareArg: 'an argument',
  bareValue: 'an argument',
  primary: 'an expression',
  expression: 'an expression',
  postfix: 'an expression',
  power: 'an expression',
  unary: 'an expression',
  multiplicative: 'an expression',
  additive: 'an expression',
  rangeExpr: 'an expression',
  comparison: 'an expression',
  notExpr: 'an expression',
  andExpr: 'an expression',
  orExpr: 'an expression',
};

/** Tokens that can start a bare argument (bareArg): what may follow a parenthesised first argument. */
const BARE_STARTS = new Set<TokenType>([T.Slash, T.Identifier, T.NumberLiteral, T.Dims, T.StringLiteral, T.True, T.False, T.LParen, T.LBracket, T.Minus, T.Plus]);

const COMPARISONS: TokenType[] = [T.EqEq, T.NotEq, T.LtEq, T.GtEq, T.Lt, T.Gt];

export class SofarParser extends EmbeddedActionsParser {
  file = '';

  constructor() {
    super(T.allTokens, { recoveryEnabled: true, maxLookahead: 3, errorMessageProvider: messages });
    this.performSelfAnalysis();
  }

  // ------------------------------------------------------------ helpers

  // Rule bodies also run once while chevrotain records the grammar, when tokens are placeholders and
  // sub-rules return undefined; the span helpers tolerate both.
  private span(first: IToken | undefined, last: IToken | undefined): Span {
    const start = first && Number.isFinite(first.startOffset) ? first.startOffset : 0;
    const end = last && Number.isFinite(last.endOffset ?? NaN) ? (last.endOffset as number) : start;
    return { file: this.file, line: first?.startLine ?? 1, column: first?.startColumn ?? 1, offset: start, length: Math.max(1, end - start + 1) };
  }

  private join(a: Span | undefined, b: Span | undefined): Span {
    const first = a ?? b ?? this.span(undefined, undefined);
    const last = b ?? first;
    return { ...first, length: Math.max(1, last.offset + last.length - first.offset) };
  }

  private ident(t: IToken): Ident {
    return { name: t.image, span: this.span(t, t) };
  }

  private separators(): void {
    this.MANY(() => this.OR([{ ALT: () => this.CONSUME(T.Newline) }, { ALT: () => this.CONSUME(T.Semicolon) }]));
  }

  // ------------------------------------------------------------ declarations

  public sourceFile = this.RULE(
    'file',
    (): SourceFile => {
      const blocks: BlockDecl[] = [];
      const models: ModelDecl[] = [];
      this.MANY(() =>
        this.OR([
          { ALT: () => this.CONSUME(T.Newline) },
          { ALT: () => this.CONSUME(T.Semicolon) },
          { ALT: () => blocks.push(this.SUBRULE(this.blockDecl)) },
          { ALT: () => models.push(this.SUBRULE(this.modelDecl)) },
        ]),
      );
      return { file: this.file, blocks, models };
    },
    { recoveryValueFunc: () => ({ file: this.file, blocks: [], models: [] }) },
  );

  private modelDecl = this.RULE('modelDecl', (): ModelDecl => {
    const start = this.CONSUME(T.Model);
    const name = this.CONSUME(T.Identifier);
    let params: Param[] = [];
    this.OPTION(() => {
      params = this.SUBRULE(this.paramList);
    });
    this.CONSUME(T.LBrace);
    const blocks: BlockDecl[] = [];
    const body: Statement[] = [];
    this.MANY(() =>
      this.OR([
        { ALT: () => this.CONSUME(T.Newline) },
        { ALT: () => this.CONSUME(T.Semicolon) },
        { ALT: () => blocks.push(this.SUBRULE(this.blockDecl)) },
        { ALT: () => body.push(this.SUBRULE(this.statement)) },
      ]),
    );
    const end = this.CONSUME(T.RBrace);
    return { kind: 'model', name: this.ident(name), params, blocks, body, span: this.span(start, end) };
  });

  private blockDecl = this.RULE('blockDecl', (): BlockDecl => {
    const start = this.CONSUME(T.Block);
    const name = this.CONSUME(T.Identifier);
    let params: Param[] = [];
    this.OPTION(() => {
      params = this.SUBRULE(this.paramList);
    });
    let wrapper: BlockDecl['wrapper'];
    this.OPTION2(() => {
      this.CONSUME(T.Equals);
      const callee = this.CONSUME2(T.Identifier);
      let args: Arg[] = [];
      let last = callee;
      this.OPTION3(() => {
        this.CONSUME(T.LParen);
        args = this.SUBRULE(this.argList);
        last = this.CONSUME(T.RParen);
      });
      wrapper = { callee: this.ident(callee), args, span: this.span(callee, last) };
    });
    const { body, end } = this.SUBRULE(this.bracedBody) ?? { body: [], end: undefined };
    return { kind: 'block', name: this.ident(name), params, ...(wrapper ? { wrapper } : {}), body, span: this.span(start, end) };
  });

  private paramList = this.RULE('paramList', (): Param[] => {
    const params: Param[] = [];
    this.CONSUME(T.LParen);
    this.MANY_SEP({
      SEP: T.Comma,
      DEF: () => {
        const name = this.CONSUME(T.Identifier);
        let def: Expr | undefined;
        this.OPTION(() => {
          this.CONSUME(T.Equals);
          def = this.SUBRULE(this.expression);
        });
        params.push({ name: this.ident(name), ...(def ? { default: def } : {}), span: def ? this.join(this.span(name, name), def?.span) : this.span(name, name) });
      },
    });
    this.CONSUME(T.RParen);
    return params;
  });

  private bracedBody = this.RULE(
    'bracedBody',
    (): { body: Statement[]; end: IToken } => {
      this.CONSUME(T.LBrace);
      const body = this.SUBRULE(this.statements);
      const end = this.CONSUME(T.RBrace);
      return { body, end };
    },
  );

  private statements = this.RULE('statements', (): Statement[] => {
    const body: Statement[] = [];
    this.MANY(() =>
      this.OR([
        { ALT: () => this.CONSUME(T.Newline) },
        { ALT: () => this.CONSUME(T.Semicolon) },
        { ALT: () => body.push(this.SUBRULE(this.statement)) },
      ]),
    );
    return body;
  });

  // ------------------------------------------------------------ statements

  private statement = this.RULE('statement', (): Statement =>
    this.OR([
      { ALT: () => this.SUBRULE(this.stageStatement) },
      { ALT: () => this.SUBRULE(this.ifStatement) },
      { ALT: () => this.SUBRULE(this.forStatement) },
      { ALT: () => this.SUBRULE(this.letStatement) },
      { ALT: () => this.SUBRULE(this.binarizeStatement) },
      { ALT: () => this.SUBRULE(this.settingStatement) },
      { ALT: () => this.SUBRULE(this.callStatement) },
    ]),
  );

  private stageStatement = this.RULE('stageStatement', (): Statement => {
    const start = this.CONSUME(T.Stage);
    const name = this.SUBRULE(this.nameRef);
    const { body, end } = this.SUBRULE(this.bracedBody) ?? { body: [], end: undefined };
    return { kind: 'stage', name, body, span: this.span(start, end) };
  });

  /** `conv2`, or a computed name `("section_" + str(i))`. */
  private nameRef = this.RULE('nameRef', (): NameRef =>
    this.OR([
      { ALT: () => this.ident(this.CONSUME(T.Identifier)) },
      {
        ALT: () => {
          const open = this.CONSUME(T.LParen);
          const computed = this.SUBRULE(this.expression);
          const close = this.CONSUME(T.RParen);
          return { computed, span: this.span(open, close) };
        },
      },
    ]),
  );

  /**
   * Whether the parenthesis at LA(1) closes before more bare arguments (`dense (channels // r) bias=false`):
   * then it is a parenthesised first argument, not the call form `f(a, b)`.
   */
  private bareArgsAfterParen(): boolean {
    let depth = 0;
    for (let i = 1; ; i++) {
      const t = this.LA(i).tokenType;
      if (t.name === 'EOF') return false;
      if (t === T.LParen || t === T.LBracket) depth++;
      else if (t === T.RParen || t === T.RBracket) {
        depth--;
        if (depth === 0) return BARE_STARTS.has(this.LA(i + 1).tokenType);
      }
    }
  }

  private ifStatement = this.RULE('ifStatement', (): Statement => {
    const start = this.CONSUME(T.If);
    const cond = this.SUBRULE(this.expression);
    const then = this.SUBRULE(this.bracedBody);
    let end = then?.end;
    let otherwise: Statement[] | undefined;
    this.OPTION(() => {
      this.CONSUME(T.Else);
      this.OR([
        {
          ALT: () => {
            const nested = this.SUBRULE2(this.ifStatement);
            otherwise = [nested];
            end = this.ACTION(() => ({ ...end, endOffset: nested.span.offset + nested.span.length - 1 }) as IToken);
          },
        },
        {
          ALT: () => {
            const b = this.SUBRULE2(this.bracedBody);
            otherwise = b?.body;
            end = b?.end;
          },
        },
      ]);
    });
    return { kind: 'if', cond, then: then?.body ?? [], ...(otherwise ? { otherwise } : {}), span: this.span(start, end) };
  });

  private forStatement = this.RULE('forStatement', (): Statement => {
    const start = this.CONSUME(T.For);
    const variable = this.CONSUME(T.Identifier);
    this.CONSUME(T.In);
    const iterable = this.SUBRULE(this.expression);
    const { body, end } = this.SUBRULE(this.bracedBody) ?? { body: [], end: undefined };
    return { kind: 'for', variable: this.ident(variable), iterable, body, span: this.span(start, end) };
  });

  private letStatement = this.RULE('letStatement', (): Statement => {
    const start = this.CONSUME(T.Let);
    const name = this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    const value = this.SUBRULE(this.expression);
    return { kind: 'let', name: this.ident(name), value, span: this.join(this.span(start, start), value?.span) };
  });

  private binarizeStatement = this.RULE('binarizeStatement', (): Statement => {
    const start = this.CONSUME(T.Binarize);
    const args: Arg[] = [];
    this.AT_LEAST_ONE_SEP({
      SEP: T.Comma,
      DEF: () => {
        const name = this.CONSUME(T.Identifier);
        this.CONSUME(T.Equals);
        const value = this.SUBRULE(this.expression);
        args.push({ name: this.ident(name), value, span: this.join(this.span(name, name), value?.span) });
      },
    });
    const last = args.length ? args[args.length - 1]?.span : this.span(start, start);
    return { kind: 'binarize', args, span: this.join(this.span(start, start), last) };
  });

  private settingStatement = this.RULE('settingStatement', (): Statement => {
    const key = this.OR([{ ALT: () => this.CONSUME(T.Input) }, { ALT: () => this.CONSUME(T.Classes) }]);
    const value = this.SUBRULE(this.expression);
    return { kind: 'setting', name: this.ident(key), value, span: this.join(this.span(key, key), value?.span) };
  });

  /** `[label:] name args [{ body }] [* count]` */
  private callStatement = this.RULE('callStatement', (): Statement => {
    let label: NameRef | undefined;
    let first: IToken | undefined;
    this.OPTION(() => {
      this.OR2([
        {
          ALT: () => {
            first = this.CONSUME(T.Identifier);
            label = this.ident(first);
          },
        },
        {
          ALT: () => {
            first = this.CONSUME3(T.LParen);
            const computed = this.SUBRULE(this.expression);
            const close = this.CONSUME3(T.RParen);
            label = { computed, span: this.span(first, close) };
          },
        },
      ]);
      this.CONSUME(T.Colon);
    });
    const callee = this.CONSUME2(T.Identifier);
    let parenArgs: Arg[] = [];
    const bareArgs: Arg[] = [];
    let parenthesized = false;
    let last: Span = this.span(callee, callee);
    // `f(a, b)` and `f (a)` (a bare parenthesised value) read alike: the parenthesised form wins,
    // unless more bare arguments follow the parenthesis (`dense (channels // r) bias=false`).
    this.OR({ IGNORE_AMBIGUITIES: true, DEF: [
      {
        GATE: () => !this.bareArgsAfterParen(),
        ALT: () => {
          this.CONSUME(T.LParen);
          parenArgs = this.SUBRULE(this.argList);
          const close = this.CONSUME(T.RParen);
          parenthesized = true;
          last = this.span(close, close);
        },
      },
      {
        ALT: () => {
          this.MANY(() => {
            const a = this.SUBRULE(this.bareArg);
            bareArgs.push(a);
            last = a?.span;
          });
        },
      },
    ]});
    let body: Statement[] | undefined;
    this.OPTION2(() => {
      const b = this.SUBRULE(this.bracedBody);
      body = b?.body;
      last = this.span(b?.end, b?.end);
    });
    let repeat: Expr | undefined;
    this.OPTION3(() => {
      this.CONSUME(T.Star);
      // A count is a primary with indexing: `* 3`, `* n`, `* blocks[s]`, `* (n + 1)`.
      const count = this.SUBRULE(this.postfix);
      repeat = count;
      last = count?.span;
    });
    const start = this.span(first ?? callee, first ?? callee);
    const args = parenthesized ? parenArgs : bareArgs;
    return {
      kind: 'call',
      ...(label ? { label } : {}),
      callee: this.ident(callee),
      args,
      parenthesized,
      ...(body ? { body } : {}),
      ...(repeat ? { repeat } : {}),
      span: this.join(start, last),
    };
  });

  /**
   * Bare arguments: `64`, `-1`, `3x3`, `widths[i]`, `/2` (stride), `name=value`; operators other than a
   * leading sign need parentheses.
   */
  private bareArg = this.RULE('bareArg', (): Arg =>
    this.OR([
      {
        ALT: () => {
          const slash = this.CONSUME(T.Slash);
          const value = this.SUBRULE(this.postfix);
          const span = this.join(this.span(slash, slash), value?.span);
          return { name: { name: 'stride', span: this.span(slash, slash) }, value, span };
        },
      },
      {
        GATE: () => this.LA(2).tokenType === T.Equals,
        ALT: () => {
          const name = this.CONSUME(T.Identifier);
          this.CONSUME(T.Equals);
          let value = this.SUBRULE(this.bareValue);
          // `fixed = outer(a, b) / 16`: a spaced `/` divides a named value; `/2` glued is the stride.
          this.MANY({
            GATE: () => this.spacedSlash(),
            DEF: () => {
              this.CONSUME2(T.Slash);
              const divisor = this.SUBRULE3(this.bareValue);
              value = this.binary('/', value, divisor);
            },
          });
          return { name: this.ident(name), value, span: this.join(this.span(name, name), value?.span) };
        },
      },
      {
        ALT: () => {
          const value = this.SUBRULE2(this.bareValue);
          return { value, span: value?.span };
        },
      },
    ]),
  );

  /** Whether LA(1) is a `/` with a space after it (a division, not the stride sugar `/2`). */
  private spacedSlash(): boolean {
    const slash = this.LA(1);
    return slash.tokenType === T.Slash && this.LA(2).startOffset > slash.startOffset + 1;
  }

  /** A bare value: `widths[i]`, optionally signed (`min=-1`). */
  private bareValue = this.RULE('bareValue', (): Expr =>
    this.OR([
      { ALT: () => this.SUBRULE(this.postfix) },
      { ALT: () => this.signed(this.bareValue) },
    ]),
  );

  /** Parenthesised arguments: expressions, positional first, then `name = value`. */
  private argList = this.RULE('argList', (): Arg[] => {
    const args: Arg[] = [];
    this.MANY_SEP({
      SEP: T.Comma,
      DEF: () =>
        this.OR([
          {
            GATE: () => this.LA(2).tokenType === T.Equals,
            ALT: () => {
              const name = this.CONSUME(T.Identifier);
              this.CONSUME(T.Equals);
              const value = this.SUBRULE(this.expression);
              args.push({ name: this.ident(name), value, span: this.join(this.span(name, name), value?.span) });
            },
          },
          {
            ALT: () => {
              const value = this.SUBRULE2(this.expression);
              args.push({ value, span: value?.span });
            },
          },
        ]),
    });
    return args;
  });

  // ------------------------------------------------------------ expressions

  public expression = this.RULE('expression', (): Expr => {
    const value = this.SUBRULE(this.orExpr);
    let result = value;
    this.OPTION(() => {
      this.CONSUME(T.If);
      const cond = this.SUBRULE2(this.orExpr);
      let otherwise: Expr | undefined;
      this.OPTION2(() => {
        this.CONSUME(T.Else);
        otherwise = this.SUBRULE(this.expression);
      });
      const end = otherwise ? otherwise?.span : cond?.span;
      result = { kind: 'conditional', then: value, cond, ...(otherwise ? { otherwise } : {}), span: this.join(value?.span, end) };
    });
    return result;
  });

  private orExpr = this.RULE('orExpr', (): Expr => {
    let left = this.SUBRULE(this.andExpr);
    this.MANY(() => {
      this.CONSUME(T.Or);
      const right = this.SUBRULE2(this.andExpr);
      left = this.binary('or', left, right);
    });
    return left;
  });

  private andExpr = this.RULE('andExpr', (): Expr => {
    let left = this.SUBRULE(this.notExpr);
    this.MANY(() => {
      this.CONSUME(T.And);
      const right = this.SUBRULE2(this.notExpr);
      left = this.binary('and', left, right);
    });
    return left;
  });

  private notExpr = this.RULE('notExpr', (): Expr =>
    this.OR([
      {
        ALT: () => {
          const not = this.CONSUME(T.Not);
          const operand = this.SUBRULE(this.notExpr);
          return { kind: 'unary', op: 'not', operand, span: this.join(this.span(not, not), operand?.span) } as Expr;
        },
      },
      { ALT: () => this.SUBRULE(this.comparison) },
    ]),
  );

  private comparison = this.RULE('comparison', (): Expr => {
    let left = this.SUBRULE(this.rangeExpr);
    this.OPTION(() => {
      const op = this.OR(COMPARISONS.map((t) => ({ ALT: () => this.CONSUME(t) })));
      const right = this.SUBRULE2(this.rangeExpr);
      left = this.binary(op.image as BinaryOp, left, right);
    });
    return left;
  });

  private rangeExpr = this.RULE('rangeExpr', (): Expr => {
    let from = this.SUBRULE(this.additive);
    this.OPTION(() => {
      this.CONSUME(T.DotDot);
      const to = this.SUBRULE2(this.additive);
      from = { kind: 'range', from, to, span: this.join(from?.span, to?.span) };
    });
    return from;
  });

  private additive = this.RULE('additive', (): Expr => {
    let left = this.SUBRULE(this.multiplicative);
    this.MANY(() => {
      const op = this.OR([{ ALT: () => this.CONSUME(T.Plus) }, { ALT: () => this.CONSUME(T.Minus) }]);
      const right = this.SUBRULE2(this.multiplicative);
      left = this.binary(op.image as BinaryOp, left, right);
    });
    return left;
  });

  private multiplicative = this.RULE('multiplicative', (): Expr => {
    let left = this.SUBRULE(this.unary);
    this.MANY(() => {
      const op = this.OR([
        { ALT: () => this.CONSUME(T.Star) },
        { ALT: () => this.CONSUME(T.SlashSlash) },
        { ALT: () => this.CONSUME(T.Slash) },
        { ALT: () => this.CONSUME(T.Percent) },
      ]);
      const right = this.SUBRULE2(this.unary);
      left = this.binary(op.image as BinaryOp, left, right);
    });
    return left;
  });

  /** `-x` or `+x`, where x is parsed by `operand` (the rule that calls this, so signs may repeat). */
  private signed(operand: ParserMethod<[], Expr>): Expr {
    const sign = this.OR2([{ ALT: () => this.CONSUME(T.Minus) }, { ALT: () => this.CONSUME(T.Plus) }]);
    const x = this.SUBRULE(operand);
    return { kind: 'unary', op: sign.image as '-' | '+', operand: x, span: this.join(this.span(sign, sign), x?.span) } as Expr;
  }

  /** A sign binds tighter than `*` and looser than `**`: `-2*3` is (-2)*3, `-2**2` is -(2**2), `2--1` is 3. */
  private unary = this.RULE('unary', (): Expr =>
    this.OR([
      { ALT: () => this.SUBRULE(this.power) },
      { ALT: () => this.signed(this.unary) },
    ]),
  );

  private power = this.RULE('power', (): Expr => {
    let base = this.SUBRULE(this.postfix);
    this.OPTION(() => {
      this.CONSUME(T.StarStar);
      const exponent = this.SUBRULE(this.unary);
      base = this.binary('**', base, exponent);
    });
    return base;
  });

  private postfix = this.RULE('postfix', (): Expr => {
    let target = this.SUBRULE(this.primary);
    this.MANY(() => {
      this.CONSUME(T.LBracket);
      const index = this.SUBRULE(this.expression);
      const close = this.CONSUME(T.RBracket);
      target = { kind: 'index', target, index, span: this.join(target?.span, this.span(close, close)) };
    });
    return target;
  });

  public primary = this.RULE(
    'primary',
    (): Expr =>
      this.OR([
        {
          ALT: () => {
            const t = this.CONSUME(T.NumberLiteral);
            return { kind: 'number', value: Number(t.image), span: this.span(t, t) } as Expr;
          },
        },
        {
          ALT: () => {
            const t = this.CONSUME(T.Dims);
            return { kind: 'dims', value: t.image.split('x').map(Number), span: this.span(t, t) } as Expr;
          },
        },
        {
          ALT: () => {
            const t = this.CONSUME(T.StringLiteral);
            return { kind: 'string', value: this.ACTION(() => T.stringValue(t.image)), span: this.span(t, t) } as Expr;
          },
        },
        {
          ALT: () => {
            const t = this.CONSUME(T.True);
            return { kind: 'bool', value: true, span: this.span(t, t) } as Expr;
          },
        },
        {
          ALT: () => {
            const t = this.CONSUME(T.False);
            return { kind: 'bool', value: false, span: this.span(t, t) } as Expr;
          },
        },
        {
          ALT: () => {
            const open = this.CONSUME(T.LParen);
            const inner = this.SUBRULE(this.expression);
            const close = this.CONSUME(T.RParen);
            return this.ACTION(() => ({ ...inner, span: this.span(open, close) }));
          },
        },
        {
          ALT: () => {
            const open = this.CONSUME(T.LBracket);
            const items: Expr[] = [];
            this.MANY_SEP({ SEP: T.Comma, DEF: () => items.push(this.SUBRULE2(this.expression)) });
            const close = this.CONSUME(T.RBracket);
            return { kind: 'list', items, span: this.span(open, close) } as Expr;
          },
        },
        {
          ALT: () => {
            const name = this.CONSUME(T.Identifier);
            let call: Expr | undefined;
            this.OPTION(() => {
              this.CONSUME2(T.LParen);
              const args = this.SUBRULE(this.argList);
              const close = this.CONSUME2(T.RParen);
              call = { kind: 'call', callee: this.ident(name), args, span: this.span(name, close) };
            });
            return call ?? ({ kind: 'name', name: name.image, span: this.span(name, name) } as Expr);
          },
        },
      ]),
    { recoveryValueFunc: () => ({ kind: 'number', value: 0, span: { file: this.file, line: 1, column: 1, offset: 0, length: 1 } }) as Expr },
  );

  private binary(op: BinaryOp, left: Expr, right: Expr): Expr {
    return { kind: 'binary', op, left, right, span: this.ACTION(() => this.join(left?.span, right?.span)) ?? left?.span };
  }
}

/** One parser instance serves every parse (chevrotain parsers are reusable after `input` is reset). */
let shared: SofarParser | undefined;
export function parserInstance(): SofarParser {
  shared ??= new SofarParser();
  return shared;
}
