/**
 * Highlighting of `.sofar` in CodeMirror, read from the TextMate grammar that VS Code uses
 * (src/service/textmate.ts, made from the language's registries), so the playground and the editor
 * extension colour the same words the same way. A small interpreter of that grammar's rule kinds
 * (`match`, `match` with `captures`, one-line `begin`/`end`, nested `patterns`) drives a StreamLanguage.
 */
import { HighlightStyle, StreamLanguage, syntaxHighlighting, type StringStream } from '@codemirror/language';
import { tags, type Tag } from '@lezer/highlight';
import { textMateGrammar } from '../src/service/textmate.js';

interface Rule {
  name?: string;
  match?: string;
  begin?: string;
  end?: string;
  captures?: Record<string, { name: string }>;
  patterns?: Rule[];
  include?: string;
}

/** A rule ready to run: sticky regexes with match indices, and the token name of each part. */
interface Compiled {
  token: string | null;
  match: RegExp;
  end?: RegExp;
  inner?: Compiled[];
  captures?: [number, string][];
}

/** TextMate scope → the token name the stream parser emits, and that token's highlighting tag. */
const SCOPES: [RegExp, string, Tag][] = [
  [/^comment\./, 'comment', tags.lineComment],
  [/^keyword\.declaration|^keyword\.control/, 'keyword', tags.keyword],
  [/^entity\.name/, 'definition', tags.definition(tags.name)],
  [/^string\./, 'string', tags.string],
  [/^constant\.character\.escape/, 'escape', tags.escape],
  [/^constant\.numeric/, 'number', tags.number],
  [/^keyword\.operator\.word/, 'operatorWord', tags.operatorKeyword],
  [/^support\.function\.combinator/, 'combinator', tags.controlKeyword],
  [/^support\.function\.builtin/, 'builtin', tags.standard(tags.function(tags.variableName))],
  [/^support\.type\.layer/, 'layer', tags.typeName],
  [/^support\.constant\.quantizer/, 'quantizer', tags.atom],
  [/^constant\.language/, 'constant', tags.bool],
  [/^keyword\.operator/, 'operator', tags.operator],
];

const tokenOf = (scope: string | undefined): string | null => (scope ? (SCOPES.find(([re]) => re.test(scope))?.[1] ?? null) : null);
const sticky = (source: string) => new RegExp(source, 'yd');

function compileRules(grammar: { patterns: Rule[]; repository: Record<string, Rule> }): Compiled[] {
  const resolve = (rule: Rule): Compiled[] => {
    if (rule.include) return resolve(grammar.repository[rule.include.slice(1)]);
    if (rule.match !== undefined) {
      const captures = rule.captures && Object.entries(rule.captures).map(([group, c]): [number, string] => [Number(group), tokenOf(c.name) ?? '']);
      return [{ token: tokenOf(rule.name), match: sticky(rule.match), captures }];
    }
    if (rule.begin !== undefined) return [{ token: tokenOf(rule.name), match: sticky(rule.begin), end: sticky(rule.end ?? '$'), inner: (rule.patterns ?? []).flatMap(resolve) }];
    return (rule.patterns ?? []).flatMap(resolve);
  };
  return grammar.patterns.flatMap(resolve);
}

const RULES = compileRules(textMateGrammar() as { patterns: Rule[]; repository: Record<string, Rule> });

/** Within one line: the parts of a `captures` match still to emit, and an open `begin`/`end` rule. */
interface State {
  queue: { from: number; to: number; token: string | null }[];
  open: Compiled | null;
}

const execAt = (re: RegExp, stream: StringStream) => {
  re.lastIndex = stream.pos;
  const m = re.exec(stream.string);
  return m && m[0].length > 0 ? m : null;
};

function token(stream: StringStream, state: State): string | null {
  // Every rule of the grammar ends within its line (strings at the line's end at the latest).
  if (stream.sol()) (state.queue = []), (state.open = null);
  if (state.queue.length) return fromQueue(stream, state);
  if (state.open) return inside(stream, state, state.open);
  for (const rule of RULES) {
    const m = execAt(rule.match, stream);
    if (!m) continue;
    if (rule.end) {
      stream.pos += m[0].length;
      state.open = rule;
      return rule.token;
    }
    if (rule.captures && m.indices) {
      for (const [group, name] of rule.captures) {
        const at = m.indices[group];
        if (at) state.queue.push({ from: at[0], to: at[1], token: name || null });
      }
      return fromQueue(stream, state);
    }
    stream.pos += m[0].length;
    return rule.token;
  }
  // No rule starts here: skip the word (so no rule matches inside it) or the character.
  if (!stream.match(/^[A-Za-z_]\w*/)) stream.next();
  return null;
}

/** The next part of a `captures` match (or the gap before it). */
function fromQueue(stream: StringStream, state: State): string | null {
  const next = state.queue[0];
  if (stream.pos < next.from) return (stream.pos = next.from), null;
  state.queue.shift();
  stream.pos = next.to;
  return next.token;
}

/** Inside a `begin`/`end` rule (a string): its inner patterns, its end, or one more character of it. */
function inside(stream: StringStream, state: State, rule: Compiled): string | null {
  for (const innerRule of rule.inner ?? []) {
    const m = execAt(innerRule.match, stream);
    if (m) return (stream.pos += m[0].length), innerRule.token;
  }
  const end = execAt(rule.end!, stream);
  if (end) {
    stream.pos += end[0].length;
    state.open = null;
    return rule.token;
  }
  stream.next();
  return rule.token;
}

export const sofarLanguage = StreamLanguage.define<State>({
  name: 'sofar',
  startState: () => ({ queue: [], open: null }),
  copyState: (s) => ({ queue: s.queue.map((q) => ({ ...q })), open: s.open }),
  token,
  blankLine: (s) => {
    s.queue = [];
    s.open = null;
  },
  languageData: { commentTokens: { line: '#' }, closeBrackets: { brackets: ['(', '[', '{', '"'] } },
  tokenTable: Object.fromEntries(SCOPES.map(([, name, tag]) => [name, tag])),
});

export const sofarHighlighting = syntaxHighlighting(
  HighlightStyle.define([
    { tag: tags.lineComment, color: '#6a737d', fontStyle: 'italic' },
    { tag: tags.keyword, color: '#a626a4', fontWeight: 'bold' },
    { tag: tags.definition(tags.name), color: '#4078f2' },
    { tag: [tags.string, tags.escape], color: '#50a14f' },
    { tag: tags.number, color: '#986801' },
    { tag: [tags.operatorKeyword, tags.operator], color: '#0184bc' },
    { tag: tags.controlKeyword, color: '#c18401', fontWeight: 'bold' },
    { tag: tags.standard(tags.function(tags.variableName)), color: '#0184bc' },
    { tag: tags.typeName, color: '#e45649' },
    { tag: tags.atom, color: '#2e7d32' },
    { tag: tags.bool, color: '#986801' },
  ]),
);
