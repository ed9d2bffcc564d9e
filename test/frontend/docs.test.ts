/**
 * The README and the guides under docs/ as a reader uses them: every markdown link resolves (a file of
 * the repository, and a #anchor to a heading that exists there), every `sofar
 * check|summary|graph|build|fmt|fit|compare` line they show on a spec of the repository runs through the
 * built binary with exit 0 (in a scratch folder holding a copy of specs/, so `fmt` and `build` write
 * there), the `--set` examples of the command reference hold, and its help blocks are what `sofar help
 * COMMAND` prints, for every command.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/temp.js';

const BIN = resolve('dist/cli/main.js');
const DOCS = ['README.md', ...readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const text = (doc: string) => readFileSync(doc, 'utf8');
const scratch = tempDir('sofar-docs-');

beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first (npm test does)`);
  cpSync('specs', join(scratch, 'specs'), { recursive: true });
});

/** `a 'b c' d` → ['a', 'b c', 'd']: the quoting the documents' lines use. */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

/** `specs/fashion/*.sofar` → the files, as the shell expands it (a `*` in the last part only). */
function expand(arg: string): string[] {
  if (!arg.includes('*')) return [arg];
  const dir = dirname(arg);
  const pattern = new RegExp(`^${arg.slice(dir.length + 1).replace(/[.]/g, '\\.').replace(/\*/g, '[^/]*')}$`);
  return readdirSync(dir).filter((f) => pattern.test(f)).sort().map((f) => `${dir}/${f}`);
}

/** The markdown without its fenced code blocks (whose brackets are code, not links). */
const prose = (markdown: string) => markdown.replace(/^```[\s\S]*?^```/gm, '');

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens; repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  for (const m of prose(markdown).matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    const base = m[1].toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    found.add(n === 0 ? base : `${base}-${n}`);
  }
  return found;
}

/** The command lines a document shows on concrete specs (placeholders like SPEC skipped). */
function commandsIn(markdown: string): string[][] {
  const found: string[][] = [];
  const line = /(?:^|[`$] ?|npx )sofar ((?:check|summary|graph|build|fmt|fit|compare) +(?:--\S+ +)*specs\/[^`\n#|]*)/gm;
  for (const m of markdown.matchAll(line)) found.push(words(m[1].trim()).flatMap(expand));
  return found;
}

/** Runs `sofar ARGS` in the scratch folder, on its copy of the repository's specs. */
function sofar(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: scratch });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('the documents', () => {
  it('are the README and the guides', () => {
    expect(DOCS).toEqual(expect.arrayContaining(['README.md', 'docs/language.md', 'docs/commands.md', 'docs/training.md', 'docs/figures.md']));
  });

  for (const doc of DOCS) {
    it(`${doc}: every link resolves, to a file and a heading`, () => {
      const broken: string[] = [];
      for (const m of prose(text(doc)).matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1];
        if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
        const [path, anchor] = target.split('#');
        const file = path === '' ? doc : join(dirname(doc), path);
        if (!existsSync(file)) {
          broken.push(`${target}: no file ${file}`);
          continue;
        }
        if (anchor !== undefined && file.endsWith('.md') && !anchors(text(file)).has(anchor)) broken.push(`${target}: no heading #${anchor} in ${file}`);
        if (anchor !== undefined && !file.endsWith('.md') && statSync(file).isDirectory()) broken.push(`${target}: an anchor into a folder`);
      }
      expect(broken).toEqual([]);
    });

    it(`${doc}: every .md it names exists`, () => {
      const named = [...prose(text(doc)).matchAll(/([\w./-]+\.md)\b/g)].map((m) => m[1]);
      const missing = named.filter((f) => !existsSync(f) && !existsSync(join('docs', f)) && !existsSync(join(dirname(doc), f)));
      expect(missing).toEqual([]);
    });
  }

  const commands = new Map<string, string[]>();
  for (const doc of DOCS) for (const args of commandsIn(text(doc))) commands.set(args.join(' '), args);

  it('show front-end, formatting, fitting and build commands on the repository specs', () => {
    const shown = new Set([...commands.values()].map((args) => args[0]));
    expect([...shown].sort()).toEqual(['build', 'check', 'compare', 'fit', 'fmt', 'graph', 'summary']);
  });

  for (const args of commands.values()) {
    it(`sofar ${args.join(' ')}`, () => {
      const r = sofar(args);
      expect(r.err, r.err).not.toMatch(/error/);
      expect(r.code).toBe(0);
    });
  }

  it('the --set examples of the command reference hold on fractalnet-cifar', () => {
    const examples = [...text('docs/commands.md').matchAll(/`--set ([^`]+)`/g)].map((m) => words(m[1]).join(' '));
    expect(examples).toEqual(expect.arrayContaining(['columns=3', 'join=sum', 'widths=[64, 128]']));
    for (const example of new Set(examples)) {
      if (!/^[a-z_]+=/.test(example) || example === 'key=value') continue; // key=value names the form
      const r = sofar(['check', 'specs/fractalnet-cifar.sofar', '--set', example]);
      expect(r.code, `--set ${example}: ${r.err}`).toBe(0);
    }
  });

  it('the command reference shows every command\'s help as `sofar help COMMAND` prints it', () => {
    const listed = [...sofar(['help']).out.matchAll(/^ {2}(\w+) /gm)].map((m) => m[1]).filter((c) => c !== 'help');
    expect(listed.length).toBeGreaterThan(10);
    const blocks = new Map([...text('docs/commands.md').matchAll(/^### sofar (\w+)\n\n```\n([\s\S]*?)\n```/gm)].map((m) => [m[1], m[2]]));
    expect([...blocks.keys()].sort()).toEqual([...listed].sort());
    for (const command of listed) expect(blocks.get(command), `sofar help ${command}`).toBe(sofar(['help', command]).out.trimEnd());
  });
});
