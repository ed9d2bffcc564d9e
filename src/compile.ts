/**
 * The front end in one call: read → parse → elaborate → check. Each stage is its own module; this file
 * only chains them and collects their diagnostics.
 */
import type { Diagnostic } from './diagnostics.js';
import type { Graph } from './graph/types.js';

export interface CompileOptions {
  /** Which model of the file to build (default: the only one, or the last one). */
  model?: string;
  /** Values for the model's parameters (`model m(columns = 4)`), overriding their defaults. */
  params?: Record<string, number | boolean | string>;
  /** Refuse to build more nodes than this (default 10⁶). */
  nodeBudget?: number;
}

export interface CompileResult {
  /** Present when the spec elaborated far enough to make a graph (it may still carry errors). */
  graph?: Graph;
  diagnostics: Diagnostic[];
  /** The text of every file read, for rendering diagnostics. */
  sources: Map<string, string>;
}

export function compile(_text: string, _file: string, _options: CompileOptions = {}): CompileResult {
  throw new Error('internal: the front end is being written');
}

export function compileFile(_path: string, _options: CompileOptions = {}): CompileResult {
  throw new Error('internal: the front end is being written');
}
