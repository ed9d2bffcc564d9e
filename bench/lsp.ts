/**
 * The language server's answer times on the zoo's largest spec (by graph nodes): a full analysis (parse,
 * elaborate, check every model: what each edit costs after the debounce) and each query on top of it
 * (hover, completion, definition, references, inlay hints, formatting), median over runs. Target: every
 * answer within 200 ms. Writes bench/results/lsp.json.
 *
 *   npm run build && node dist/bench/lsp.js [--runs N]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { analyze } from '../src/service/analysis.js';
import { completionsAt } from '../src/service/completion.js';
import { formatSpec } from '../src/service/format.js';
import { hoverAt } from '../src/service/hover.js';
import { definitionAt, inlayHints, referencesAt } from '../src/service/navigation.js';
import { isMain, machine, parseFlags, printReport, repoRoot, wholeNumber, writeReport } from './common.js';

const TARGET_MS = 200;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function specs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? specs(join(dir, e.name)) : e.name.endsWith('.sofar') ? [join(dir, e.name)] : []));
}

export async function run(argv: readonly string[] = process.argv.slice(2)) {
  const o = parseFlags('lsp', argv, { runs: 15, out: undefined as string | undefined }, { keys: ['runs'], number: wholeNumber('lsp', 1) }, {});
  const load = loadavg();
  const root = repoRoot();
  // The largest spec: the most graph nodes over its models.
  const sized = specs(join(root, 'specs')).map((file) => {
    const a = analyze(readFileSync(file, 'utf8'), file);
    return { file, nodes: [...a.graphs.values()].reduce((n, g) => n + g.nodes.length, 0) };
  });
  const largest = sized.sort((a, b) => b.nodes - a.nodes)[0];
  const text = readFileSync(largest.file, 'utf8');
  // Query in the middle of the spec's last statement line with a layer on it.
  const offset = text.lastIndexOf('conv') + 1;
  const timings: Record<string, number[]> = { analyze: [], hover: [], completion: [], definition: [], references: [], inlayHints: [], format: [] };
  for (let i = 0; i <= o.runs; i++) {
    const t0 = performance.now();
    const a = analyze(text, largest.file);
    const t1 = performance.now();
    hoverAt(a, offset);
    const t2 = performance.now();
    completionsAt(a, offset);
    const t3 = performance.now();
    definitionAt(a, offset);
    const t4 = performance.now();
    referencesAt(a, offset);
    const t5 = performance.now();
    inlayHints(a);
    const t6 = performance.now();
    formatSpec(text, largest.file);
    const t7 = performance.now();
    if (i === 0) continue; // warm-up
    const steps = [t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6];
    Object.keys(timings).forEach((k, j) => timings[k].push(steps[j]));
  }
  const medians = Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, +median(v).toFixed(2)]));
  // An edit's diagnostics cost one analysis; a query on a changed document costs an analysis plus itself.
  const worstAnswerMs = +(medians.analyze + Math.max(...Object.entries(medians).filter(([k]) => k !== 'analyze').map(([, v]) => v))).toFixed(2);
  const report = {
    bench: 'lsp',
    machine: machine(load),
    spec: largest.file.slice(root.length + 1),
    nodes: largest.nodes,
    runs: o.runs,
    medianMs: medians,
    worstAnswerMs,
    targetMs: TARGET_MS,
    withinTarget: worstAnswerMs <= TARGET_MS,
  };
  writeReport(o.out ?? join(root, 'bench/results/lsp.json'), report);
  return report;
}

if (isMain(import.meta.url)) printReport(() => run());
