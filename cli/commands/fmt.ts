/**
 * `sofar fmt [--check] FILE|DIR…`: rewrites `.sofar` files in the canonical layout (src/service/format.ts),
 * atomically; with `--check`, changes nothing and exits 1 listing the files that are not formatted. A
 * file with a syntax error is reported and left as it is.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { formatSpec } from '../../src/service/format.js';
import { userFailure, writeFileAtomic } from '../common.js';

/** The `.sofar` files named or found (recursively, in name order) under the folders named. */
export function specFiles(paths: readonly string[]): string[] {
  const found: string[] = [];
  const walk = (path: string, named: boolean): void => {
    let stats;
    try {
      stats = statSync(path);
    } catch {
      throw userFailure(`cannot read ${path}: no such file or folder`, 'check the path');
    }
    if (stats.isDirectory()) {
      for (const entry of readdirSync(path).sort()) if (entry !== 'node_modules' && !entry.startsWith('.')) walk(join(path, entry), false);
    } else if (named || path.endsWith('.sofar')) found.push(path);
  };
  for (const path of paths) walk(path, true);
  return found;
}

export function register(program: Command): void {
  program
    .command('fmt')
    .description('rewrite .sofar files in the one canonical layout (meaning-preserving); --check only reports')
    .argument('<paths...>', '.sofar files, or folders searched for them')
    .option('--check', 'change nothing; exit 1 and list the files that are not formatted')
    .action((paths: string[], flags: { check?: boolean }) => {
      const unformatted: string[] = [];
      const broken: string[] = [];
      for (const file of specFiles(paths)) {
        const text = readFileSync(file, 'utf8');
        const result = formatSpec(text, file);
        if (!result.ok) {
          broken.push(result.reason);
          continue;
        }
        if (result.text === text) continue;
        unformatted.push(file);
        if (!flags.check) writeFileAtomic(file, result.text);
      }
      for (const file of unformatted) process.stdout.write(`${flags.check ? 'not formatted' : 'formatted'}: ${file}\n`);
      if (broken.length) throw userFailure(`${broken.length} file${broken.length === 1 ? '' : 's'} left as they are:\n  ${broken.join('\n  ')}`, 'fix the syntax errors (sofar check FILE), then format');
      if (flags.check && unformatted.length) throw userFailure(`${unformatted.length} file${unformatted.length === 1 ? ' is' : 's are'} not formatted`, 'run sofar fmt on them');
    });
}
