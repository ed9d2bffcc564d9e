/**
 * `sofar build SPEC [--target onnx|tfjs|torch|graph] [-o PATH] [--weights DIR] [--seed N] [--int] [--no-pack] [--binary-ops]`:
 * the spec as files (torch: DIR/model.py, DIR/train.py and DIR/init.safetensors, the weights to start from). With no target it writes `build/<name>.onnx` and `build/<name>.graph.json` and
 * prints the model's summary.
 */
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { summarize } from '../../src/cost.js';
import { graphToJson } from '../../src/graph/json.js';
import type { Graph, WeightMap } from '../../src/graph/types.js';
import { addSpecOptions, outSpelling, parseNonNegativeInt, setFlagMap, UsageError, writeFileAtomic, type SpecFlags } from '../common.js';
import { describeVariant, exportModel, loadSpec, specWeights, type VariantFlags, type WeightFlags } from '../models.js';
import { formatSummaryTable } from '../summary-table.js';

interface BuildFlags extends SpecFlags, WeightFlags, VariantFlags {
  target?: string;
  out?: string;
  /** Deprecated spelling of --out. */
  output?: string;
}

const TARGETS = ['onnx', 'graph', 'tfjs', 'torch'] as const;

export function register(program: Command): void {
  addSpecOptions(
    program
      .command('build')
      .description('export a spec: build/<name>.onnx and build/<name>.graph.json, and print its summary')
      .argument('<spec>', 'a .sofar file')
      .addOption(new Option('--target <target>', 'write only this artefact').choices(TARGETS))
      .option('-o, --out <path>', 'where to write it (a folder for tfjs and torch; the target may be inferred from a .onnx / .json name)')
      .addOption(new Option('--output <path>', 'deprecated: --out').hideHelp())
      .addOption(new Option('--weights <dir>', 'trained weights: a checkpoint folder or .safetensors file (default: seeded init)').conflicts('seed'))
      .option('--seed <n>', 'seed of the initial weights (the same numbers in every backend)', parseNonNegativeInt('--seed'), 0)
      .option('--int', 'binary layers as ConvInteger / MatMulInteger on uint8 (exact; for int8 runtimes)')
      .option('--no-pack', 'store binary kernels as ±1 values instead of 1 bit each')
      .option('--binary-ops', 'binary layers as SoFAr-domain operators (docs/operators.md) for SoFAr\'s binary runtime'),
  ).action(async (spec: string, given: BuildFlags) => {
    const flags = outSpelling(given);
    const target = resolveTarget(flags);
    if ((target === 'tfjs' || target === 'torch' || target === 'graph') && (flags.int || !flags.pack || flags.binaryOps)) {
      throw new UsageError(`--int, --no-pack and --binary-ops choose how the ONNX model stores binary layers; drop them with --target ${target}`);
    }
    if (flags.binaryOps && (flags.int || !flags.pack)) {
      throw new UsageError('--binary-ops is its own variant (packed kernels, SoFAr operators); drop --int and --no-pack');
    }
    const loaded = loadSpec(spec, flags);
    const { graph } = loaded;
    const written: string[] = [];
    if (target === 'tfjs') {
      const dir = flags.out ?? join('build', `${graph.name}.tfjs`);
      const { weights, source } = specWeights(loaded);
      const info = await saveKeras(graph, weights, dir, source);
      written.push(`wrote ${info.modelJson} and ${info.weightsBin} (${formatBytes(info.weightBytes)}, weights: ${source})`);
    }
    if (target === 'torch') {
      const dir = flags.out ?? join('build', `${graph.name}.torch`);
      const { weights, source, normalisation } = specWeights(loaded);
      const { writeTorchProject } = await import('../../backends/torch/index.js');
      const paths = writeTorchProject(graph, weights, dir, { source: spec, seed: flags.seed, weightsSource: source, normalisation, modelParams: setFlagMap(loaded.flags.set) });
      written.push(`wrote ${paths.modelPy}, ${paths.trainPy} and ${paths.initWeights} (weights: ${source})`);
    }
    if (target === undefined || target === 'onnx') {
      const path = flags.out ?? join('build', `${graph.name}.onnx`);
      const { weights, source, normalisation } = specWeights(loaded);
      const bytes = await exportModel(graph, weights, flags, source, { normalisation, set: loaded.flags.set });
      writeFileAtomic(path, bytes);
      written.push(`wrote ${path} (${formatBytes(bytes.length)}, ${describeVariant(flags, graph)}, weights: ${source})`);
    }
    if (target === undefined || target === 'graph') {
      const path = target === 'graph' && flags.out ? flags.out : join('build', `${graph.name}.graph.json`);
      writeFileAtomic(path, graphToJson(graph) + '\n');
      written.push(`wrote ${path}`);
    }
    if (target === undefined) process.stdout.write(formatSummaryTable(summarize(graph), { layers: false }) + '\n');
    process.stdout.write(written.join('\n') + '\n');
  });
}

/** --target, or the one -o implies by its extension; undefined for the default pair of files. */
function resolveTarget(flags: BuildFlags): string | undefined {
  if (flags.target && flags.out) {
    const implied = /\.onnx$/i.test(flags.out) ? 'onnx' : /\.json$/i.test(flags.out) ? 'graph' : undefined;
    if (implied && implied !== flags.target) {
      throw new UsageError(`-o ${flags.out} names ${implied === 'onnx' ? 'an ONNX model' : 'a JSON file'}, but --target is ${flags.target}`, `drop --target, or give -o a name that fits ${flags.target}`);
    }
  }
  if (flags.target || !flags.out) return flags.target;
  if (/\.onnx$/i.test(flags.out)) return 'onnx';
  if (/\.json$/i.test(flags.out)) return 'graph';
  throw new UsageError(`-o ${flags.out}: name the target`, 'add --target onnx or --target graph (or end the path in .onnx / .json)');
}

/** The Keras model of TensorFlow.js (model.json + weights.bin), loaded only for this target. */
async function saveKeras(graph: Graph, weights: WeightMap, dir: string, source: string) {
  const tfjs = await import('../../backends/tfjs/index.js');
  // No training here, so tfjs' console advice to install its native backend is noise.
  tfjs.defaultTf.env().set('PROD', true);
  const model = tfjs.buildTfjsModel(graph, weights);
  try {
    return await tfjs.saveTfjsModel(model, dir, { spec: graph.name, weights: source });
  } finally {
    model.dispose();
  }
}

function formatBytes(n: number): string {
  return n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(2)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} bytes`;
}
