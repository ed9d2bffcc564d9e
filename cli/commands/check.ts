/** `sofar check SPEC`: parse, elaborate and type-check; exit 0 or print diagnostics and exit 1. */
import type { Command } from 'commander';
import { summarize } from '../../src/cost.js';
import { addSpecOptions, loadGraph, type SpecFlags } from '../common.js';

export function register(program: Command): void {
  addSpecOptions(
    program
      .command('check')
      .description('parse, elaborate and type-check a spec; exit 0, or print diagnostics and exit 1')
      .argument('<spec>', 'a .sofar file, or a graph file (build/NAME.graph.json)'),
  ).action((spec: string, flags: SpecFlags) => {
    const { graph } = loadGraph(spec, flags);
    const s = summarize(graph);
    process.stdout.write(
      `${spec}: ok — model ${graph.name}, ${s.nodes.toLocaleString('en-US')} nodes, ${s.params.total.toLocaleString('en-US')} params, ${s.ops.toExponential(3)} OPs\n`,
    );
  });
}
