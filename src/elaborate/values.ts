/** The values expressions evaluate to while a spec is elaborated. */
import type { Span } from '../diagnostics.js';

export type Value =
  | { t: 'num'; v: number }
  | { t: 'bool'; v: boolean }
  | { t: 'str'; v: string }
  | { t: 'dims'; v: number[] }
  | { t: 'list'; v: Value[] }
  /** A bare word with no binding: an option like `same`, `mean`, `approx_sign`, `none`. */
  | { t: 'sym'; name: string }
  /** A call written as a value, run later: `ste_sign(clip = 1.3)`, `project(ch)`. */
  | { t: 'call'; name: string; args: BoundArg[]; span: Span };

/** An argument after evaluation. */
export interface BoundArg {
  name?: string;
  value: Value;
  span: Span;
  nameSpan?: Span;
}

export const num = (v: number): Value => ({ t: 'num', v });
export const bool = (v: boolean): Value => ({ t: 'bool', v });
export const NONE: Value = { t: 'sym', name: 'none' };

export function isNone(v: Value): boolean {
  return v.t === 'sym' && (v.name === 'none' || v.name === 'identity');
}

/** A plain value as it would be written in a spec (for hints); other values as `describe` reads them. */
export function asSource(v: Value): string {
  switch (v.t) {
    case 'num':
      return formatNumber(v.v);
    case 'bool':
      return String(v.v);
    case 'dims':
      return v.v.join('x');
    case 'list':
      return `[${v.v.map(asSource).join(', ')}]`;
    default:
      return describe(v);
  }
}

/** How a value reads in an error message. */
export function describe(v: Value): string {
  switch (v.t) {
    case 'num':
      return `the number ${formatNumber(v.v)}`;
    case 'bool':
      return String(v.v);
    case 'str':
      return `the string "${v.v}"`;
    case 'dims':
      return `the size ${v.v.join('x')}`;
    case 'list':
      return `a list of ${v.v.length}`;
    case 'sym':
      return `the name '${v.name}'`;
    case 'call':
      return `the call ${v.name}(...)`;
  }
}

export function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(6)));
}

/** Python's round(): halves go to the even neighbour (Larq Zoo's channel formulas rely on it). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
