/**
 * Diagnostics are data (as in the TypeScript compiler): every stage returns them instead of printing
 * or throwing, and the CLI alone decides how to render them and which exit code to use.
 */

import type { Diagnostic } from '../grammar/diagnostic.js';

// The data and its constructors live in grammar/, the first stage to report one (grammar/ imports
// nothing from src/); here they stand beside the renderers, so every later stage imports them from here.
export { error, warning, type Diagnostic, type Severity, type Span } from '../grammar/diagnostic.js';

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

/**
 * Thrown by the programmatic API when asked for a result that has errors. Carries the diagnostics so
 * callers can render them; never thrown by the pipeline stages themselves.
 */
export class SofarError extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(diagnostics.map((d) => formatDiagnosticShort(d)).join('\n'));
    this.name = 'SofarError';
  }
}

/** One line: `path:line:col: error: message`. */
export function formatDiagnosticShort(d: Diagnostic): string {
  const where = d.span ? `${d.span.file}:${d.span.line}:${d.span.column}: ` : '';
  return `${where}${d.severity}: ${d.message}`;
}

/**
 * The full rendering: the one-line header, the source line with a caret under the span, and the hint.
 * `sources` maps file names to their text.
 */
export function formatDiagnostic(d: Diagnostic, sources: ReadonlyMap<string, string>): string {
  const lines = [formatDiagnosticShort(d)];
  const text = d.span ? sources.get(d.span.file) : undefined;
  if (d.span && text !== undefined) {
    const sourceLine = text.split(/\r?\n/)[d.span.line - 1];
    if (sourceLine !== undefined) {
      const gutter = String(d.span.line);
      const pad = ' '.repeat(gutter.length);
      const width = Math.max(1, Math.min(d.span.length, sourceLine.length - d.span.column + 1));
      const lead = sourceLine.slice(0, d.span.column - 1).replace(/[^\t]/g, ' ');
      lines.push(`${pad} |`);
      lines.push(`${gutter} | ${sourceLine}`);
      lines.push(`${pad} | ${lead}${'^'.repeat(width)}`);
    }
  }
  if (d.hint) lines.push(`  = hint: ${d.hint}`);
  return lines.join('\n');
}

/** "did you mean" for a misspelt name: the closest candidate within a small edit distance. */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined;
}

/** Edit distance where swapping two neighbours counts once (optimal string alignment). */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
