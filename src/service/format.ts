/**
 * The canonical layout of a `.sofar` file (`sofar fmt`, the language server's formatting): two spaces
 * an indentation level, one space between words, `name = value` inside parentheses, a space around
 * binary operators, none inside brackets or before commas, trailing comments aligned within a run of
 * lines, at most one blank line, none at the edges of a block, one newline at the end.
 *
 * Only the whitespace between tokens changes, and the result is checked: re-lexed, it must give the same
 * tokens and comments in the same order (else the formatter refuses, which would be a bug in it). The
 * lexer skips whitespace, so the parser — and the graph — cannot tell the two texts apart.
 */
import type { IToken } from 'chevrotain';
import { parse } from '../../grammar/index.js';
import { tokenize } from '../../grammar/lexer.js';

const INDENT = '  ';

/** Tokens that take a space on both sides. */
const BINARY = new Set(['+', '-', '*', '//', '%', '**', '==', '!=', '<', '<=', '>', '>=', 'and', 'or', 'if', 'else', 'in', 'not']);
/** After these a `-` or `+` is a sign, not a binary operator. */
const BEFORE_UNARY = new Set(['(', '[', ',', '=', ':', ';', '{', '+', '-', '*', '/', '//', '%', '**', '==', '!=', '<', '<=', '>', '>=', 'and', 'or', 'not', 'if', 'else', 'in']);
const OPENERS = new Set(['(', '[', '{']);
const CLOSERS = new Set([')', ']', '}']);
const WORDLIKE = /^[A-Za-z0-9_."]/;

interface Line {
  tokens: IToken[];
  comment: string | null;
  /** The bracket depth at the line's start, less the closers it starts with. */
  depth: number;
}

export type FormatResult = { ok: true; text: string } | { ok: false; reason: string };

/** The canonical layout of `text`, or why it cannot be formatted (a syntax error: nothing is changed then). */
export function formatSpec(text: string, file = 'spec.sofar'): FormatResult {
  const parsed = parse(text, file);
  const error = parsed.diagnostics.find((d) => d.severity === 'error');
  if (error) return { ok: false, reason: `${file}:${error.span?.line ?? 1}:${error.span?.column ?? 1}: ${error.message}` };
  const lines = splitLines(text);
  const formatted = layout(lines.map((line, i) => renderCode(line, text, lines[i - 1])));
  const check = sameTokens(text, formatted);
  if (check) return { ok: false, reason: `internal: the formatter would change the meaning (${check}); please report this spec` };
  return { ok: true, text: formatted };
}

/** The file's physical lines with their tokens (newline tokens left out), comment and depth. */
function splitLines(text: string): Line[] {
  const { tokens } = tokenize(text);
  const sourceLines = text.split('\n');
  const byLine: IToken[][] = sourceLines.map(() => []);
  for (const t of tokens) if (t.image !== '\n') byLine[(t.startLine ?? 1) - 1].push(t);
  let depth = 0;
  return sourceLines.map((source, i) => {
    const lineTokens = byLine[i];
    const lineStart = sourceLines.slice(0, i).reduce((n, l) => n + l.length + 1, 0);
    const codeEnd = lineTokens.length ? lineTokens[lineTokens.length - 1].endOffset! + 1 - lineStart : 0;
    const rest = source.slice(codeEnd).trim();
    const comment = rest.startsWith('#') ? rest.replace(/\s+$/, '') : null;
    let leadingClosers = 0;
    while (leadingClosers < lineTokens.length && CLOSERS.has(lineTokens[leadingClosers].image)) leadingClosers++;
    const line = { tokens: lineTokens, comment, depth: Math.max(0, depth - leadingClosers) };
    for (const t of lineTokens) {
      if (OPENERS.has(t.image)) depth++;
      else if (CLOSERS.has(t.image)) depth = Math.max(0, depth - 1);
    }
    return line;
  });
}

/** How many spaces the author put between two tokens on one line (0 or 1 after normalising). */
const hadSpace = (text: string, prev: IToken, cur: IToken) => (cur.startOffset > prev.endOffset! + 1 && /\s/.test(text[prev.endOffset! + 1]) ? ' ' : '');

/** One line's code with canonical spacing, and its indentation and comment. */
function renderCode(line: Line, text: string, _previous: Line | undefined): { code: string; comment: string | null; indent: string; blank: boolean } {
  let code = '';
  const stack: string[] = [];
  let prev: IToken | null = null;
  // The first word of the statement the token is in: `let`, `binarize`, a layer's name, …
  let head = '';
  for (const t of line.tokens) {
    const img = t.image;
    if (!prev || ((prev.image === '{' || prev.image === ';') && stack[stack.length - 1] === '{')) head = img;
    if (prev) code += spaceBetween(prev, t, text, stack, head);
    code += img;
    if (OPENERS.has(img)) stack.push(img);
    else if (CLOSERS.has(img)) stack.pop();
    prev = t;
  }
  return { code, comment: line.comment, indent: INDENT.repeat(line.depth), blank: !line.tokens.length && line.comment === null };
}

/** Statements whose `=` reads `name = value`; a layer's bare arguments read `name=value`. */
const SPACED_EQUALS = new Set(['let', 'binarize', 'block', 'model']);

function spaceBetween(prev: IToken, cur: IToken, text: string, stack: readonly string[], head: string): string {
  const p = prev.image;
  const c = cur.image;
  const inParens = stack.length > 0 && stack[stack.length - 1] !== '{';
  if (c === ',' || c === ';' || c === ')' || c === ']' || c === ':' || c === '..' || p === '..') return '';
  if (p === '(' || p === '[') return '';
  if (p === ',' || p === ';' || p === ':') return ' ';
  if (c === '{' || p === '{' || c === '}') return ' ';
  // A call or an index (`unit(64)`, `widths[i]`) and a bare parenthesised argument (`dense (c // 2)`)
  // keep the author's choice: the language may tell them apart.
  if (c === '(' || c === '[') return p === '=' && !inParens && !SPACED_EQUALS.has(head) ? '' : WORDLIKE.test(p) || p === ')' || p === ']' ? hadSpace(text, prev, cur) : ' ';
  if (c === '=' || p === '=') return inParens || SPACED_EQUALS.has(head) ? ' ' : '';
  // `conv 3x3 64 /2` (stride shorthand) and `a / b` both read well as written.
  if (c === '/' || p === '/') return hadSpace(text, prev, cur);
  if ((p === '-' || p === '+') && isUnary(prev, text)) return '';
  if (BINARY.has(c) || BINARY.has(p)) return ' ';
  return ' ';
}

/** Whether a `-` or `+` is a sign: at the start of an expression or after an operator. */
function isUnary(token: IToken, text: string): boolean {
  let i = token.startOffset - 1;
  while (i >= 0 && /[ \t]/.test(text[i])) i--;
  if (i < 0 || text[i] === '\n') return true;
  // The token before the sign, read back from the text (the longest operator or word ending there).
  const before = text.slice(Math.max(0, i - 2), i + 1);
  for (const op of ['//', '**', '==', '!=', '<=', '>=']) if (before.endsWith(op)) return true;
  if (BEFORE_UNARY.has(text[i])) return true;
  const word = /[A-Za-z_]+$/.exec(text.slice(Math.max(0, i - 8), i + 1))?.[0];
  return word !== undefined && BEFORE_UNARY.has(word);
}

/** Joins the rendered lines: blank-line rules, indentation, trailing comments aligned within runs. */
function layout(rendered: { code: string; comment: string | null; indent: string; blank: boolean }[]): string {
  const kept: typeof rendered = [];
  for (const line of rendered) {
    const last = kept[kept.length - 1];
    if (line.blank) {
      // No blank line at the start, after another blank, or right after an opening brace.
      if (!last || last.blank || last.code.endsWith('{')) continue;
    } else if (last?.blank && line.code.startsWith('}')) kept.pop();
    kept.push(line);
  }
  while (kept.length && kept[kept.length - 1].blank) kept.pop();

  const out: string[] = [];
  for (let i = 0; i < kept.length; ) {
    // A run of consecutive lines with code and a trailing comment aligns its comments.
    if (kept[i].code && kept[i].comment !== null) {
      let j = i;
      while (j < kept.length && kept[j].code && kept[j].comment !== null) j++;
      const width = Math.max(...kept.slice(i, j).map((l) => l.indent.length + l.code.length));
      for (const l of kept.slice(i, j)) out.push(`${l.indent}${l.code}${' '.repeat(width - l.indent.length - l.code.length + 2)}${l.comment}`);
      i = j;
      continue;
    }
    const l = kept[i];
    out.push(l.blank ? '' : `${l.indent}${l.code}${l.comment !== null ? (l.code ? ' ' : '') + l.comment : ''}`);
    i++;
  }
  return out.join('\n') + '\n';
}

/** Null when both texts lex to the same tokens and comments (runs of newlines count once), else the first difference. */
function sameTokens(a: string, b: string): string | null {
  const words = (text: string) => {
    const out: string[] = [];
    for (const t of tokenize(text).tokens) {
      if (t.image === '\n' && out[out.length - 1] === '\n') continue;
      out.push(t.image);
    }
    while (out[0] === '\n') out.shift();
    while (out[out.length - 1] === '\n') out.pop();
    return out;
  };
  const comments = (text: string) => text.split('\n').flatMap((line) => /#.*$/.exec(stripStrings(line))?.[0].trimEnd() ?? []);
  const [wa, wb] = [words(a), words(b)];
  for (let i = 0; i < Math.max(wa.length, wb.length); i++) if (wa[i] !== wb[i]) return `token ${i}: '${wa[i]}' became '${wb[i]}'`;
  const [ca, cb] = [comments(a), comments(b)];
  return ca.length === cb.length && ca.every((c, i) => c === cb[i]) ? null : 'a comment changed';
}

/** A line with its string literals blanked, so a `#` inside a string is not taken for a comment. */
const stripStrings = (line: string) => line.replace(/"(?:[^"\\]|\\.)*"?/g, (s) => '"'.padEnd(s.length, '_'));
