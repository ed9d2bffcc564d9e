/** `sofar summary SPEC [--json] [--no-layers]`: Larq's summary (per layer and totals), Keras' parameter count and OPs. */
import type { Command } from 'commander';
import { summarize } from '../../src/cost.js';
import { addSpecOptions, loadGraph, type SpecFlags } from '../common.js';
import { formatSummaryTable } from '../summary-table.js';

export function register(program: Command): void {
  addSpecOptions(
    program
      .command('summary')
      .description("larq.models.summary's figures per layer and in total (parameters, model size, MACs, binarized ratio), Keras' count_params() and Bi-Real Net's OPs")
      .argument('<spec>', 'a .sofar file, or a graph file (build/NAME.graph.json)')
      .option('--json', 'print one JSON object with the exact figures instead of tables')
      .option('--no-layers', 'print only the totals'),
  ).action((spec: string, flags: SpecFlags & { json?: boolean; layers: boolean }) => {
    const { graph } = loadGraph(spec, flags);
    const s = summarize(graph);
    if (!flags.json) process.stdout.write(formatSummaryTable(s, { layers: flags.layers }) + '\n');
    else {
      // --no-layers drops the per-layer rows from the JSON object as it does from the tables.
      const { layers, ...totals } = s;
      process.stdout.write(JSON.stringify(flags.layers ? s : totals, null, 2) + '\n');
    }
  });
}
