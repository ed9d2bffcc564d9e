/**
 * What a diagnostic is: plain data, made here because the parser is the first stage to report one and
 * grammar/ depends on nothing of SoFAr's. Every later stage makes its diagnostics with the same
 * constructors (src/diagnostics.ts re-exports them beside the renderers).
 */

/** A region of a source file: 1-based line/column of its start, and its length in characters. */
export interface Span {
  file: string;
  line: number;
  column: number;
  offset: number;
  length: number;
}

export type Severity = 'error' | 'warning';

export interface Diagnostic {
  severity: Severity;
  /** Stable machine-readable code, e.g. `syntax`, `unknown-name`, `shape-mismatch`. */
  code: string;
  message: string;
  span?: Span;
  hint?: string;
}

export function error(code: string, message: string, span?: Span, hint?: string): Diagnostic {
  return { severity: 'error', code, message, ...(span ? { span } : {}), ...(hint ? { hint } : {}) };
}

export function warning(code: string, message: string, span?: Span, hint?: string): Diagnostic {
  return { severity: 'warning', code, message, ...(span ? { span } : {}), ...(hint ? { hint } : {}) };
}
