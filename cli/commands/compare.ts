/** `sofar compare SPEC SPEC… [--json]`: the summaries' totals side by side. */
import Table from 'cli-table3';
import type { Command } from 'commander';
import { summarize, type Summary } from '../../src/cost.js';
import { addSpecOptions, loadGraph, type SpecFlags } from '../common.js';

export type SummaryTotals = Omit<Summary, 'layers'>;

/** The totals of each spec's summary, as `sofar summary --json --no-layers` prints them, with the spec's path. */
export function compareSpecs(specs: readonly string[], flags: SpecFlags = {}): ({ spec: string } & SummaryTotals)[] {
  return specs.map((spec) => {
    const { layers: _layers, ...totals } = summarize(loadGraph(spec, flags).graph);
    return { spec, ...totals };
  });
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const sci = (n: number) => (n === 0 ? '0' : n.toExponential(3));

export function formatComparison(rows: readonly ({ spec: string } & SummaryTotals)[]): string {
  const table = new Table({
    head: ['', ...rows.map((r) => r.name)],
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

export function register(program: Command): void {
  addSpecOptions(
    program
      .command('compare')
      .description('the summaries of several specs side by side: parameters, model size, MACs and OPs')
      .argument('<specs...>', '.sofar files or graph files (build/NAME.graph.json)')
      .option('--json', 'print a JSON array of the totals of each summary (as sofar summary --json --no-layers)'),
  ).action((specs: string[], flags: SpecFlags & { json?: boolean }) => {
    const rows = compareSpecs(specs, flags);
    process.stdout.write((flags.json ? JSON.stringify(rows, null, 2) : formatComparison(rows)) + '\n');
  });
}
