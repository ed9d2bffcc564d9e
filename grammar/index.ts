/** The grammar's public face: text in, syntax tree and syntax diagnostics out. */
import { error, type Diagnostic } from '../src/diagnostics.js';
import type { SourceFile } from './ast.js';
import { tokenize } from './lexer.js';
import { parserInstance } from './parser.js';

export type * from './ast.js';

export interface ParseResult {
  ast: SourceFile;
  diagnostics: Diagnostic[];
}

/** Parses one `.sofar` file. Syntax errors are reported (several per run, thanks to error recovery). */
export function parse(text: string, file: string): ParseResult {
  const lexed = tokenize(text);
  const diagnostics: Diagnostic[] = lexed.errors.map((e) =>
    error('syntax', e.message, { file, line: e.line, column: e.column, offset: e.offset, length: e.length }, 'remove it or put it in a # comment'),
  );
  const parser = parserInstance();
  parser.file = file;
  parser.input = lexed.tokens;
  const ast = parser.sourceFile();
  for (const e of parser.errors) {
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
  return { ast, diagnostics };
}

function syntaxHint(message: string): string | undefined {
  if (message.includes("expected '}'")) return 'every { needs a matching }';
  if (message.includes("expected ')'")) return 'every ( needs a matching )';
  if (message.includes("found '='")) return "named arguments read name = value; compare with '=='";
  return undefined;
}
