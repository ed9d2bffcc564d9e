/**
 * The programmatic API example of docs/api.md (the README links it) where a user pastes it: in a project of its own that depends on
 * `sofar` (a node_modules/sofar link to this package, whose exports point into dist/), run from that
 * project's folder, after TypeScript's own transpilation.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/temp.js';

const project = tempDir('sofar-user-');

describe('the API example of docs/api.md', () => {
  it('runs in a dependent project: the zoo spec from the package, diagnostics handled, logits out', () => {
    if (!existsSync('dist/src/index.js')) throw new Error('dist is missing: run npm run build first (npm test does)');
    const readme = readFileSync('docs/api.md', 'utf8');
    const section = readme.slice(readme.indexOf('# Programmatic API'));
    const code = /```ts\n([\s\S]*?)```/.exec(section)![1];
    const js = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false } }).outputText;
    mkdirSync(join(project, 'node_modules'));
    symlinkSync(resolve('.'), join(project, 'node_modules', 'sofar'), 'dir');
    writeFileSync(join(project, 'package.json'), '{ "type": "module" }\n');
    writeFileSync(join(project, 'example.js'), js);
    const r = spawnSync(process.execPath, ['example.js'], { cwd: project, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('1594368\n10\n');
  });
});
