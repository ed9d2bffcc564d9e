/**
 * `sofar compare SPEC[:NAME=V,…]… [--set NAME=V]… [--json]`: the summaries' totals side by side. Each
 * column may carry its own model parameters (`a.sofar:columns=2`), on top of the --set values every
 * column takes; a column's settings are printed under its name in the header.
 */
import { existsSync } from 'node:fs';
import Table from 'cli-table3';
import type { Command } from 'commander';
import { summarize, type Summary } from '../../src/cost.js';
import { join } from 'node:path';
import { pointLabel, RESULTS_JSONL, type SweepPoint } from '../../src/sweep.js';
import { addSpecOptions, loadGraph, setFlagMap, type SpecFlags } from '../common.js';
import { loadSweepPoints } from '../sweep-results.js';

export type SummaryTotals = Omit<Summary, 'layers'>;

/** A column: the spec's path and, when it has any, the model parameters it was built with (global --set first, its own after). */
export type ComparedSpec = { spec: string; settings?: Record<string, string> } & SummaryTotals;

/**
 * `a.sofar:columns=2,join=sum` → the spec and its own `NAME=V` settings. The settings start at the
 * first `:` followed by `NAME=`; a value may hold commas (a list) when the next part is not `NAME=`.
 */
export function parseColumn(arg: string): { spec: string; set: string[] } {
  if (existsSync(arg)) return { spec: arg, set: [] };
  const cut = [...arg.matchAll(/:(?=[A-Za-z_][A-Za-z0-9_]*=)/g)].find((m) => m.index > 0)?.index;
  if (cut === undefined) return { spec: arg, set: [] };
  return { spec: arg.slice(0, cut), set: arg.slice(cut + 1).split(/,(?=\s*[A-Za-z_][A-Za-z0-9_]*=)/).map((s) => s.trim()) };
}

/** The totals of each column's summary, as `sofar summary --json --no-layers` prints them, with the spec's path and settings. */
export function compareSpecs(columns: readonly string[], flags: SpecFlags = {}): ComparedSpec[] {
  return columns.map((column) => {
    const { spec, set } = parseColumn(column);
    const all = [...(flags.set ?? []), ...set];
    const { layers: _layers, ...totals } = summarize(loadGraph(spec, { ...flags, set: all }).graph);
    return { spec, ...(all.length ? { settings: setFlagMap(all) } : {}), ...totals };
  });
}

/** A column's header: the model's name, and its settings on a second line. */
const columnHead = (r: ComparedSpec) => r.name + (r.settings ? '\n' + Object.entries(r.settings).map(([k, v]) => `${k}=${v}`).join(', ') : '');

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const sci = (n: number) => (n === 0 ? '0' : n.toExponential(3));

export function formatComparison(rows: readonly ComparedSpec[]): string {
  const table = new Table({
    head: ['', ...rows.map(columnHead)],
    style: { head: [], border: [] },
    colAligns: ['left', ...rows.map(() => 'right' as const)],
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  const best = Math.min(...rows.map((r) => r.ops));
  table.push(
    ['Spec', ...rows.map((r) => r.spec)],
    ['Input', ...rows.map((r) => `${r.input.join('×')}, ${r.classes} classes`)],
    ['Total params', ...rows.map((r) => int(r.params.total))],
    ['1-bit params', ...rows.map((r) => int(r.params.binary))],
    ['32-bit params', ...rows.map((r) => int(r.params.float))],
    ['Model size (bytes)', ...rows.map((r) => int(r.memoryBytes))],
    ['1-bit MACs', ...rows.map((r) => sci(r.macs.binary))],
    ['32-bit MACs', ...rows.map((r) => sci(r.macs.float))],
    ['OPs', ...rows.map((r) => sci(r.ops))],
    ['OPs relative to the fewest', ...rows.map((r) => `${(r.ops / best).toFixed(2)}×`)],
    ['Graph nodes', ...rows.map((r) => int(r.nodes))],
  );
  return table.toString();
}

/**
 * A sweep's study as a table: each family's settings with their cost, the mean and sample standard
 * deviation of test accuracy over seeds, and the latency on the binary runtime, cheapest first.
 */
export function formatStudy(points: readonly SweepPoint[]): string {
  const table = new Table({
    head: ['family', 'setting', 'budget', 'OPs', 'params', 'test accuracy', 'seeds', 'latency'],
    style: { head: [], border: [] },
    colAligns: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right'],
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  const pct = (x: number) => `${(100 * x).toFixed(2)}`;
  for (const p of [...points].sort((a, b) => (a.budget ?? a.ops) - (b.budget ?? b.ops) || a.family.localeCompare(b.family))) {
    table.push([
      p.family,
      pointLabel(p),
      p.budget !== undefined ? sci(p.budget) : '',
      sci(p.ops),
      int(p.params),
      `${pct(p.accuracy.mean)} ± ${pct(p.accuracy.std)} %`,
      String(p.accuracy.n),
      p.latencyMs ? `${p.latencyMs.mean.toFixed(3)} ms` : '',
    ]);
  }
  return table.toString();
}

export function register(program: Command): void {
  addSpecOptions(
    program
      .command('compare')
      .description('the summaries of several specs side by side: parameters, model size, MACs and OPs')
      .argument('<specs...>', '.sofar files or graph files (build/NAME.graph.json), each with its own model parameters if wanted: SPEC:NAME=V,NAME=V (on top of --set, which every column takes)')
      .option('--json', 'print a JSON array of the totals of each summary (as sofar summary --json --no-layers)'),
  ).action((specs: string[], flags: SpecFlags & { json?: boolean }) => {
    if (specs.length === 1 && existsSync(join(specs[0], RESULTS_JSONL))) {
      const points = loadSweepPoints(specs[0]);
      process.stdout.write((flags.json ? JSON.stringify(points, null, 2) : formatStudy(points)) + '\n');
      return;
    }
    const rows = compareSpecs(specs, flags);
    process.stdout.write((flags.json ? JSON.stringify(rows, null, 2) : formatComparison(rows)) + '\n');
  });
}
