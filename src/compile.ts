/**
 * The front end in one call: read → parse → elaborate → check. Reading is here; the rest is
 * ./compile-text.ts, which has no Node API.
 */
import { readFileSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { error } from './diagnostics.js';
import { compile, type CompileOptions, type CompileResult } from './compile-text.js';

export { compile, type CompileOptions, type CompileResult } from './compile-text.js';

export function compileFile(path: string, options: CompileOptions = {}): CompileResult {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : (e as Error).message;
    return { diagnostics: [error('io', `cannot read ${path}: ${reason}`, undefined, 'check the path; specs end in .sofar')], sources: new Map() };
  }
  // A binary file (a model.onnx passed where a spec belongs) would otherwise yield a syntax error per byte.
  if (bytes.includes(0) || !isUtf8(bytes)) {
    return {
      diagnostics: [error('io', `${path} is not a .sofar spec: it is a binary file`, undefined, 'a spec is text; sofar run, bench and eval also accept a model.onnx')],
      sources: new Map(),
    };
  }
  return compile(bytes.toString('utf8'), path, options);
}

