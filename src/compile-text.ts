/**
 * The front end in one call on a spec's text: parse → elaborate → check. Each stage is its own module;
 * this file only chains them and collects their diagnostics. Free of Node APIs (the playground runs it
 * in the browser); ./compile.ts adds reading the file.
 */
import { parse, parseExpression, type Expr } from '../grammar/index.js';
import { check } from './check.js';
import { error, hasErrors, type Diagnostic } from './diagnostics.js';
import { elaborate } from './elaborate/elaborate.js';
import type { Graph } from './graph/types.js';

export interface CompileOptions {
  /** Which model of the file to build (required when the file defines several). */
  model?: string;
  /**
   * Values for the model's parameters (`model m(columns = 4)`), overriding their defaults. A string is
   * read as a SoFAr expression, as if written in the spec: `'mean'`, `'[64, 128]'`, `'(4 + 4)'`.
   */
  params?: Record<string, number | boolean | string>;
  /** Refuse to build more nodes than this (default 10⁶). */
  nodeBudget?: number;
}

export interface CompileResult {
  /** Present when the spec elaborated into a graph; check `diagnostics` for errors before using it. */
  graph?: Graph;
  diagnostics: Diagnostic[];
  /** The text of every file read, for rendering diagnostics. */
  sources: Map<string, string>;
}

export function compile(text: string, file: string, options: CompileOptions = {}): CompileResult {
  const sources = new Map([[file, text]]);
  if (options.nodeBudget !== undefined && !(Number.isInteger(options.nodeBudget) && options.nodeBudget >= 1)) {
    return { diagnostics: [error('bad-argument', `the node budget must be a whole number ≥ 1, not ${options.nodeBudget}`, undefined, 'leave it out for the default of 10⁶ nodes')], sources };
  }
  const parsed = parse(text, file);
  if (hasErrors(parsed.diagnostics)) return { diagnostics: parsed.diagnostics, sources };
  const params = parseParams(options.params ?? {}, sources);
  if (hasErrors(params.diagnostics)) return { diagnostics: params.diagnostics, sources };
  const elaborated = elaborate(parsed.ast, { ...options, params: params.values });
  const diagnostics = [...parsed.diagnostics, ...atTheFlag(elaborated.diagnostics, text, file, options.params ?? {})];
  if (!elaborated.graph) return { diagnostics: unique(diagnostics), sources };
  // Judging a graph that failed to elaborate would only repeat the same problems in other words.
  if (!hasErrors(diagnostics)) diagnostics.push(...check(elaborated.graph));
  return { graph: elaborated.graph, diagnostics: unique(diagnostics), sources };
}

/**
 * A --set value wrong in meaning (`--set join=avg`) fails where the spec uses the parameter; such an
 * error is reported at the flag, naming the use. Recognised by its span (the parameter's bare name in
 * the spec) and its message (quoting the value given).
 */
function atTheFlag(diagnostics: Diagnostic[], text: string, file: string, params: Record<string, number | boolean | string>): Diagnostic[] {
  return diagnostics.map((d) => {
    const span = d.span;
    if (!span || span.file !== file) return d;
    const name = text.slice(span.offset, span.offset + span.length);
    const value = params[name];
    if (value === undefined || !d.message.includes(String(value))) return d;
    const raw = String(value);
    return {
      ...d,
      message: `${d.message} (the value of --set ${name}, used at ${file}:${span.line}:${span.column})`,
      span: { file: `--set ${name}`, line: 1, column: 1, offset: 0, length: raw.length },
    };
  });
}

/** String parameters parsed as expressions; each one's text is a source named `--set NAME` for diagnostics. */
function parseParams(params: Record<string, number | boolean | string>, sources: Map<string, string>) {
  const values: Record<string, number | boolean | Expr> = {};
  const diagnostics: Diagnostic[] = [];
  for (const [name, value] of Object.entries(params)) {
    if (typeof value === 'number' || typeof value === 'boolean') {
      values[name] = value;
      continue;
    }
    if (typeof value !== 'string') {
      diagnostics.push(error('bad-argument', `parameter '${name}' is given ${JSON.stringify(value)}`, undefined, "give a number, true or false, or a SoFAr expression as a string, e.g. '[64, 128]'"));
      continue;
    }
    const file = `--set ${name}`;
    sources.set(file, value);
    const parsed = parseExpression(value, file);
    // The parser's words are about spec files (lines, the end of the file); a --set value is one expression.
    const hint = 'a --set value is a number, true or false, a name, a list [...] or an expression in ( )';
    diagnostics.push(...parsed.diagnostics.map((d) => ({ ...d, message: d.message.replace('end of file', 'end of the value'), hint: !d.hint || /line|file/.test(d.hint) ? hint : d.hint })));
    if (parsed.expr) values[name] = parsed.expr;
  }
  return { values, diagnostics };
}

/** A block expanded many times repeats its errors; say each once. */
function unique(diagnostics: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return diagnostics.filter((d) => {
    const key = `${d.code}|${d.message}|${d.span?.file}:${d.span?.offset}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
