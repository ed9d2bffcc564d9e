/** `sofar graph SPEC [--format text|json|dot|html|svg] [-o, --out PATH]`: the typed graph in several forms. */
import { Option, type Command } from 'commander';
import { summarize } from '../../src/cost.js';
import { graphToDot } from '../../src/graph/dot.js';
import { drawingToSvg, layoutGraph } from '../../src/graph/draw.js';
import { graphToDrawnHtml } from '../../src/graph/html.js';
import { graphToJson } from '../../src/graph/json.js';
import { printGraph } from '../../src/graph/print.js';
import type { Graph } from '../../src/graph/types.js';
import { addSpecOptions, loadGraph, outSpelling, UsageError, writeFileAtomic, type SpecFlags } from '../common.js';

const FORMATS: Record<string, (g: Graph, sources: ReadonlyMap<string, string>) => string | Promise<string>> = {
  text: (g) => printGraph(g) + '\n',
  json: (g) => graphToJson(g) + '\n',
  dot: graphToDot,
  html: async (g, sources) => graphToDrawnHtml(g, summarize(g), await layoutGraph(g), sources),
  svg: async (g) => drawingToSvg(g, await layoutGraph(g)),
};

export function register(program: Command): void {
  addSpecOptions(
    program
      .command('graph')
      .description('the typed graph as text (default), JSON (round-trips exactly), Graphviz DOT, a drawn HTML page, or an SVG drawing')
      .argument('<spec>', 'a .sofar file, or a graph file (build/NAME.graph.json)')
      .option('-f, --format <format>', 'text | json | dot | html | svg (drawn by ELK)', 'text')
      .option('-o, --out <path>', 'write to a file instead of standard output')
      .addOption(new Option('--output <path>', 'deprecated: --out').hideHelp()),
  ).action(async (spec: string, given: SpecFlags & { format: string; out?: string; output?: string }) => {
    const flags = outSpelling(given);
    const render = FORMATS[flags.format];
    if (!render) throw new UsageError(`unknown format '${flags.format}'`, `formats: ${Object.keys(FORMATS).join(', ')}`);
    const { graph, sources } = loadGraph(spec, flags);
    const text = await render(graph, sources);
    if (flags.out) {
      writeFileAtomic(flags.out, text);
      process.stderr.write(`wrote ${flags.out}\n`);
    } else process.stdout.write(text);
  });
}
