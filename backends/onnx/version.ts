/** SoFAr's own version, read from the package.json above this module (in the source tree and in dist/). */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function sofarVersion(): string {
  if (cached !== undefined) return cached;
  cached = '0.0.0';
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'sofar' && pkg.version) {
        cached = pkg.version;
        break;
      }
    }
    if (dirname(dir) === dir) break;
  }
  return cached;
}
