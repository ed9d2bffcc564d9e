/** Temporary folders for the tests, each removed when the tests of the file (or `describe`) that made it are done. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/**
 * A maker of new folders named `<prefix>XXXXXX` in the OS temporary folder. Call it where `afterAll`
 * may be called (a file's top level or a `describe` body): every folder it makes is removed, with its
 * contents, after the tests of that scope.
 */
export function tempDirs(prefix: string): () => string {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  return () => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
}

/** One such folder, made now: `tempDirs(prefix)()`. */
export const tempDir = (prefix: string): string => tempDirs(prefix)();
