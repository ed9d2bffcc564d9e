/**
 * The scanner: `.sofar` text → tokens. Newlines end statements, except inside () and [] where they are
 * dropped, so long argument lists may span lines. `#` starts a comment.
 */
import type { IToken, TokenType } from 'chevrotain';
import { createToken, Lexer } from './chevrotain.js';

export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/, label: 'a name' });

const keyword = (word: string) =>
  createToken({ name: word[0].toUpperCase() + word.slice(1), pattern: new RegExp(word), longer_alt: Identifier, label: `'${word}'` });

export const Model = keyword('model');
export const Block = keyword('block');
export const Stage = keyword('stage');
export const If = keyword('if');
export const Else = keyword('else');
export const For = keyword('for');
export const In = keyword('in');
export const Let = keyword('let');
export const Binarize = keyword('binarize');
export const Input = keyword('input');
export const Classes = keyword('classes');
export const True = keyword('true');
export const False = keyword('false');
export const And = keyword('and');
export const Or = keyword('or');
export const Not = keyword('not');

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r]+/, group: Lexer.SKIPPED });
export const Comment = createToken({ name: 'Comment', pattern: /#[^\n]*/, group: Lexer.SKIPPED });
export const Newline = createToken({ name: 'Newline', pattern: /\n/, line_breaks: true, label: 'end of line' });

/** `3x3`, `3x224x224`: sizes written with `x`. */
export const Dims = createToken({ name: 'Dims', pattern: /\d+(?:x\d+)+(?![A-Za-z0-9_])/, label: 'a size like 3x3' });
export const DotDot = createToken({ name: 'DotDot', pattern: /\.\./, label: "'..'" });
export const NumberLiteral = createToken({
  name: 'NumberLiteral',
  pattern: /(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?/,
  label: 'a number',
});
/** The closing quote is optional here so that an unterminated string is one token, reported once by `tokenize`. */
export const StringLiteral = createToken({ name: 'StringLiteral', pattern: /"(?:[^"\\\n]|\\.)*"?/, label: 'a string' });
const CLOSED_STRING = /^"(?:[^"\\\n]|\\.)*"$/;

/** The text a string literal stands for: `\n` and `\t` are a newline and a tab; any other `\c` is c. */
export function stringValue(image: string): string {
  const inner = CLOSED_STRING.test(image) ? image.slice(1, -1) : image.slice(1);
  return inner.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : c));
}

const punct = (name: string, pattern: RegExp, label: string) => createToken({ name, pattern, label: `'${label}'` });
export const LBrace = punct('LBrace', /\{/, '{');
export const RBrace = punct('RBrace', /\}/, '}');
export const LParen = punct('LParen', /\(/, '(');
export const RParen = punct('RParen', /\)/, ')');
export const LBracket = punct('LBracket', /\[/, '[');
export const RBracket = punct('RBracket', /\]/, ']');
export const Comma = punct('Comma', /,/, ',');
export const Colon = punct('Colon', /:/, ':');
export const Semicolon = punct('Semicolon', /;/, ';');
export const EqEq = punct('EqEq', /==/, '==');
export const NotEq = punct('NotEq', /!=/, '!=');
export const LtEq = punct('LtEq', /<=/, '<=');
export const GtEq = punct('GtEq', />=/, '>=');
export const Lt = punct('Lt', /</, '<');
export const Gt = punct('Gt', />/, '>');
export const Equals = punct('Equals', /=/, '=');
export const StarStar = punct('StarStar', /\*\*/, '**');
export const Star = punct('Star', /\*/, '*');
export const SlashSlash = punct('SlashSlash', /\/\//, '//');
export const Slash = punct('Slash', /\//, '/');
export const Percent = punct('Percent', /%/, '%');
export const Plus = punct('Plus', /\+/, '+');
export const Minus = punct('Minus', /-/, '-');

export const allTokens: TokenType[] = [
  WhiteSpace,
  Comment,
  Newline,
  Dims,
  DotDot,
  NumberLiteral,
  StringLiteral,
  Model,
  Block,
  Stage,
  If,
  Else,
  For,
  Input,
  In,
  Let,
  Binarize,
  Classes,
  True,
  False,
  And,
  Or,
  Not,
  Identifier,
  LBrace,
  RBrace,
  LParen,
  RParen,
  LBracket,
  RBracket,
  Comma,
  Colon,
  Semicolon,
  EqEq,
  NotEq,
  LtEq,
  GtEq,
  Lt,
  Gt,
  Equals,
  StarStar,
  Star,
  SlashSlash,
  Slash,
  Percent,
  Plus,
  Minus,
];

const lexer = new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: false });

export interface LexError {
  line: number;
  column: number;
  offset: number;
  length: number;
  message: string;
  hint: string;
}

/** Characters that look like SoFAr's own but are not, with what to write instead. */
const LOOKALIKES: Record<string, string> = {
  '×': 'write sizes with the letter x, e.g. 3x3',
  '−': 'write a minus sign with the ASCII -',
  '“': 'quote strings with the ASCII "',
  '”': 'quote strings with the ASCII "',
};

export function tokenize(text: string): { tokens: IToken[]; errors: LexError[] } {
  const result = lexer.tokenize(text);
  const errors: LexError[] = result.errors.map((e) => {
    const bad = text.slice(e.offset, e.offset + e.length);
    return {
      line: e.line ?? 1,
      column: e.column ?? 1,
      offset: e.offset,
      length: e.length,
      message: `unexpected character '${bad}'`,
      hint: LOOKALIKES[bad[0]] ?? 'remove it or put it in a # comment',
    };
  });
  for (const t of result.tokens) {
    if (t.tokenType === StringLiteral && !CLOSED_STRING.test(t.image)) {
      errors.push({
        line: t.startLine ?? 1,
        column: t.startColumn ?? 1,
        offset: t.startOffset,
        length: t.image.length,
        message: 'unterminated string',
        hint: 'close it with " on the same line',
      });
    }
  }
  errors.sort((a, b) => a.offset - b.offset);
  // Newlines inside () and [] carry no meaning: drop them so argument lists can span lines.
  let depth = 0;
  const tokens = result.tokens.filter((t) => {
    if (t.tokenType === LParen || t.tokenType === LBracket) depth++;
    else if ((t.tokenType === RParen || t.tokenType === RBracket) && depth > 0) depth--;
    return !(t.tokenType === Newline && depth > 0);
  });
  return { tokens, errors };
}
