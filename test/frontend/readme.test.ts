/**
 * The README's commands as a user copies them: every `sofar check|summary|graph|build` line on a spec of
 * the repository (in code blocks or inline), and the `--set` examples of the command reference, run
 * through the built binary in a scratch folder and exit 0.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/temp.js';

const BIN = resolve('dist/cli/main.js');
const README = readFileSync('README.md', 'utf8');
const scratch = tempDir('sofar-readme-');

beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first (npm test does)`);
});

/** `a 'b c' d` → ['a', 'b c', 'd']: the quoting the README's lines use. */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

/** The front-end and build commands the README shows on concrete specs (placeholders like SPEC skipped). */
function readmeCommands(): string[][] {
  const found = new Map<string, string[]>();
  for (const m of README.matchAll(/(?:^|[`$] ?|npx )sofar ((?:check|summary|graph|build) +specs\/[^`\n#|]*)/gm)) {
    const args = words(m[1].trim());
    found.set(args.join(' '), args);
  }
  return [...found.values()];
}

/** Runs `sofar ARGS` in the scratch folder, with the repository's specs. */
function sofar(args: string[]) {
  const resolved = args.map((a) => (a.startsWith('specs/') ? resolve(a) : a));
  const r = spawnSync(process.execPath, [BIN, ...resolved], { encoding: 'utf8', cwd: scratch });
  return { code: r.status, err: r.stderr };
}

describe('the README', () => {
  const commands = readmeCommands();

  it('shows front-end and build commands on the repository specs', () => {
    expect(commands.length).toBeGreaterThanOrEqual(3);
  });

  for (const args of commands) {
    it(`sofar ${args.join(' ')}`, () => {
      const r = sofar(args);
      expect(r.err, r.err).not.toMatch(/error/);
      expect(r.code).toBe(0);
    });
  }

  it('names only documents that are in the repository', () => {
    const named = new Set([...README.matchAll(/([\w./-]+\.md)\b/g)].map((m) => m[1]).filter((f) => !f.startsWith('http')));
    expect(named.size).toBeGreaterThan(0);
    const missing = [...named].filter((f) => !existsSync(f) && !existsSync(join('docs', f)));
    expect(missing).toEqual([]);
  });

  it('its --set examples hold on fractalnet-cifar', () => {
    const examples = [...README.matchAll(/`--set ([^`]+)`/g)].map((m) => words(m[1]).join(' '));
    expect(examples).toEqual(expect.arrayContaining(['columns=3', 'join=sum', 'widths=[64, 128]']));
    for (const example of new Set(examples)) {
      if (!/^[a-z_]+=/.test(example) || example === 'key=value') continue; // key=value names the form
      const r = sofar(['check', 'specs/fractalnet-cifar.sofar', '--set', example]);
      expect(r.code, `--set ${example}: ${r.err}`).toBe(0);
    }
  });
});
