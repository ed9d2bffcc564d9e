/**
 * The CLI's layering: a command (cli/commands/*.ts) takes what it shares with other commands from the
 * modules below it in cli/ (models, options, engines, common), never from another command; and only
 * cli/main.ts, which registers the commands, imports them (the benchmarks reuse what lies below them). Import specifiers are read with TypeScript's
 * own scanner, so static, type-only, re-exporting and dynamic imports all count.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'cli');
const COMMANDS = join(CLI, 'commands');

/** The repository-relative paths of the local modules a file imports (`./build.js` → `cli/commands/build.ts`). */
function localImports(file: string, text = readFileSync(file, 'utf8')): string[] {
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => relative(ROOT, resolve(dirname(file), specifier)).replace(/\.js$/, '.ts'));
}

const tsFiles = (dir: string) => readdirSync(dir).filter((name) => name.endsWith('.ts')).map((name) => join(dir, name));
const isCommand = (path: string) => path.startsWith('cli/commands/');

describe('the CLI layering', () => {
  it('no command imports another command', () => {
    const files = tsFiles(COMMANDS);
    expect(files.length).toBeGreaterThan(5);
    const crossings = files.flatMap((file) => localImports(file).filter(isCommand).map((to) => `${relative(ROOT, file)} imports ${to}`));
    expect(crossings).toEqual([]);
  });

  it('only cli/main.ts imports the commands (not the rest of cli/, nor the benchmarks)', () => {
    const files = [...tsFiles(CLI), ...tsFiles(join(ROOT, 'bench'))].filter((file) => !file.endsWith('/main.ts'));
    const crossings = files.flatMap((file) => localImports(file).filter(isCommand).map((to) => `${relative(ROOT, file)} imports ${to}`));
    expect(crossings).toEqual([]);
  });

  it('sees every kind of import a command could use to reach another', () => {
    const file = join(COMMANDS, 'run.ts');
    const kinds = [
      "import { register } from './build.js';",
      "import type { WeightFlags } from './build.js';",
      "export { register } from './build.js';",
      "const build = await import('./build.js');",
      "import { x } from '../commands/build.js';",
    ];
    for (const line of kinds) expect(localImports(file, line).filter(isCommand), line).toEqual(['cli/commands/build.ts']);
    expect(localImports(file, "import { openModel } from '../models.js';").filter(isCommand)).toEqual([]);
  });
});
