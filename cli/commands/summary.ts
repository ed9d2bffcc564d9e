/** `sofar summary SPEC [--json]`: per-layer and total params, memory, MACs and OPs. */
import type { Command } from 'commander';
import { summarize } from '../../src/cost.js';
import { addSpecOptions, loadGraph, type SpecFlags } from '../common.js';
import { formatSummaryTable } from '../summary-table.js';

export function register(program: Command): void {
  addSpecOptions(
    program
      .command('summary')
      .description('per-layer and total parameters, memory, MACs and OPs (Larq and Bi-Real Net conventions)')
      .argument('<spec>', 'a .sofar file')
      .option('--json', 'print one JSON object instead of tables')
      .option('--no-layers', 'print only the totals'),
  ).action((spec: string, flags: SpecFlags & { json?: boolean; layers: boolean }) => {
    const { graph } = loadGraph(spec, flags);
    const s = summarize(graph);
    process.stdout.write(flags.json ? JSON.stringify(s, null, 2) + '\n' : formatSummaryTable(s, { layers: flags.layers }) + '\n');
  });
}
