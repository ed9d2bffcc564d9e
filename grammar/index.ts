/** The grammar's public face: text in, syntax tree and syntax diagnostics out. */
import { error, type Diagnostic } from './diagnostic.js';
import type { Expr, SourceFile } from './ast.js';
import { tokenize } from './lexer.js';
import { OUTSIDE, parserInstance } from './parser.js';

export type * from './ast.js';

export interface ParseResult {
  ast: SourceFile;
  diagnostics: Diagnostic[];
}

/** Parses one `.sofar` file. Syntax errors are reported (several per run, thanks to error recovery). */
export function parse(text: string, file: string): ParseResult {
  const { result: ast, diagnostics } = runRule(text, file, (parser) => parser.sourceFile());
  return { ast, diagnostics };
}

/**
 * Parses one expression on its own, e.g. the value of `--set deep=[1, 2]`; `file` names where it came
 * from in diagnostics.
 */
export function parseExpression(text: string, file: string): { expr?: Expr; diagnostics: Diagnostic[] } {
  const { result: expr, diagnostics } = runRule(text, file, (parser) => parser.expression());
  return diagnostics.length ? { diagnostics } : { expr, diagnostics };
}

/** Lexes `text` and runs one parser rule over all of it, collecting lexer and parser diagnostics. */
function runRule<T>(text: string, file: string, rule: (parser: ReturnType<typeof parserInstance>) => T): { result: T; diagnostics: Diagnostic[] } {
  const lexed = tokenize(text);
  const diagnostics: Diagnostic[] = lexed.errors.map((e) =>
    error('syntax', e.message, { file, line: e.line, column: e.column, offset: e.offset, length: e.length }, e.hint),
  );
  const parser = parserInstance();
  parser.file = file;
  parser.input = lexed.tokens;
  const result = rule(parser);
  diagnostics.push(...parserDiagnostics(parser.errors, text, file));
  return { result, diagnostics };
}

function parserDiagnostics(errors: ReturnType<typeof parserInstance>['errors'], text: string, file: string): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  let outside = false;
  for (const e of errors) {
    // Once the parser has left every model and block, each later line would repeat the same error.
    if (e.message.endsWith(OUTSIDE)) {
      if (outside) continue;
      outside = true;
    }
    const t = e.token;
    const atEnd = t.tokenType.name === 'EOF' || !Number.isFinite(t.startOffset);
    const anchor = atEnd ? ((e as { previousToken?: typeof t }).previousToken ?? t) : t;
    const offset = Number.isFinite(anchor.startOffset) ? anchor.startOffset : Math.max(0, text.length - 1);
    const line = anchor.startLine ?? text.split('\n').length;
    const column = anchor.startColumn ?? 1;
    diagnostics.push(
      error('syntax', e.message, { file, line, column, offset, length: Math.max(1, anchor.image?.length ?? 1) }, syntaxHint(e.message)),
    );
  }
  return diagnostics;
}

function syntaxHint(message: string): string | undefined {
  if (message.startsWith("expected '}'")) return 'every { needs a matching }';
  if (message.startsWith("expected ')'")) return 'every ( needs a matching )';
  if (message.includes("found '='")) return "named arguments read name = value; compare with '=='";
  if (message.endsWith(OUTSIDE)) return 'layers and settings go inside model name { ... } or block name(...) { ... }; a } too many ends the model early';
  if (/^unexpected end of (line|file)/.test(message)) return 'a value is missing at the end of the line (e.g. /2, momentum=0.9); inside ( ) an expression may go on to the next line';
  if (/^unexpected .* in an? (expression|argument)/.test(message)) return 'a value is a number, a size like 3x3, a name, a string, a list [...] or an expression in ( )';
  return undefined;
}
