/**
 * `sofar run SPEC|MODEL.onnx [--runtime ort|sofar|tfjs] [--samples N] [--seed N] [--input FILE [--data NAME] [--no-normalise]] [--json]`:
 * one inference on an input drawn from the seed (or read from a .npy array or an image, whose pixels
 * are normalised as the model's training data were), printing the logits. A spec runs with weights from the same seed (or --weights), so every backend prints the
 * same numbers.
 */
import { Option, type Command } from 'commander';
import { datasetClassNames } from '../../backends/runtime/classes.js';
import { describeNormalisation, namedNormalisation, type InputNormalisation } from '../../src/data/normalise.js';
import { readInputFile } from '../../src/io/input-file.js';
import type { RuntimeName } from '../binary-runtime.js';
import { addSpecOptions, noteDeprecated, parseNonNegativeInt, parsePositiveInt, UsageError, type SpecFlags } from '../common.js';
import { openModel, seededBatch, type OpenedModel, type VariantFlags, type WeightFlags } from '../models.js';
import { deviceOption, runtimeOption } from '../options.js';

interface RunFlags extends SpecFlags, WeightFlags, VariantFlags {
  /** Deprecated spelling of --runtime ort|tfjs. */
  backend?: 'onnx' | 'tfjs';
  runtime: RuntimeName | 'tfjs';
  samples?: number;
  /** Deprecated spelling of --samples. */
  batch?: number;
  input?: string;
  data?: string;
  normalise: boolean;
  threads?: number;
  json?: boolean;
}

/** Data sets whose normalisation `--data` names for a model that records none. */
const NORMALISATION_SOURCES = ['fashion-mnist', 'mnist', 'cifar10', 'synthetic'] as const;

export function register(program: Command): void {
  addSpecOptions(
    program
      .command('run')
      .description('run one inference and print the logits (input drawn from the seed, or --input FILE)')
      .argument('<model>', 'a .sofar spec or a model.onnx')
      .addOption(runtimeOption(true))
      .addOption(new Option('--backend <backend>', 'deprecated: --runtime ort|tfjs').choices(['onnx', 'tfjs']).hideHelp())
      .option('--samples <n>', 'samples drawn from the seed (default 1)', parsePositiveInt('--samples'))
      .addOption(new Option('--batch <n>', 'deprecated: --samples').argParser(parsePositiveInt('--batch')).hideHelp())
      .option('--seed <n>', 'seed of the input and of the initial weights', parseNonNegativeInt('--seed'), 0)
      .option('--input <file>', 'a .npy array ([N,C,H,W], [C,H,W] or [H,W]) or a PNG / JPEG of the model input size')
      .addOption(new Option('--data <name>', "normalise --input pixels as this data set's training images (for a model that records no normalisation)").choices(NORMALISATION_SOURCES))
      .option('--no-normalise', 'feed --input pixels scaled to [0, 1] only, without the training normalisation')
      .option('--weights <dir>', 'trained weights of a spec: a checkpoint folder or .safetensors file')
      .option('--threads <n>', 'threads (ONNX Runtime intra-op threads; SoFAr runtime default: one per core)', parsePositiveInt('--threads'))
      .addOption(deviceOption())
      .option('--int', 'binary layers as ConvInteger / MatMulInteger (--runtime ort, spec only)')
      .option('--no-pack', 'binary kernels stored unpacked (--runtime ort, spec only)')
      .option('--json', 'print { "output": number[][] }'),
  ).action((model: string, flags: RunFlags, cmd: Command) => runCommand(model, currentSpellings(flags, cmd)));
}

/** The old spellings (`--backend onnx|tfjs`, `--batch N`) as today's (`--runtime ort|tfjs`, `--samples N`), with a note. */
function currentSpellings(flags: RunFlags, cmd: Command): RunFlags {
  const out = { ...flags };
  if (flags.backend !== undefined) {
    const now = flags.backend === 'tfjs' ? 'tfjs' : 'ort';
    noteDeprecated(`--backend ${flags.backend}`, `--runtime ${now}`);
    if (cmd.getOptionValueSource('runtime') !== 'cli') out.runtime = now;
    else if (flags.runtime !== now) throw new UsageError(`--runtime ${flags.runtime} and --backend ${flags.backend} name two runtimes`, 'drop --backend (it is the old spelling of --runtime)');
  }
  if (flags.batch !== undefined) {
    noteDeprecated('--batch', '--samples');
    if (flags.samples !== undefined) throw new UsageError('--samples and --batch are the same option', 'drop --batch (the old spelling)');
    out.samples = flags.batch;
  }
  delete out.backend;
  delete out.batch;
  return out;
}

async function runCommand(target: string, given: RunFlags): Promise<void> {
  const flags = { ...given, batch: given.samples };
  if (flags.input && flags.samples !== undefined) throw new UsageError('--samples goes with a seeded input; --input gives its own samples');
  const { runtime, backend } = given.runtime === 'tfjs' ? { runtime: 'ort' as const, backend: 'tfjs' as const } : { runtime: given.runtime, backend: 'onnx' as const };
  const opened = await openModel(target, { ...flags, runtime, backend, batch: flags.samples ?? 1 });
  if (!flags.input && (flags.data || !flags.normalise)) throw new UsageError('--data and --no-normalise say how --input pixels are normalised', 'give --input FILE, or drop them');
  const normalisation = flags.input ? inputNormalisation(opened, flags) : null;
  const { x, n, pixels } = flags.input ? readInputFile(flags.input, opened.input, normalisation) : { x: seededBatch(opened.input, flags.samples ?? 1, flags.seed), n: flags.samples ?? 1, pixels: false };
  if (flags.input) process.stderr.write(`note: ${normalisationNote(pixels, normalisation, opened.normalisation, flags)}\n`);
  const logits = await opened.run(x, n);
  await opened.release();
  const classes = logits.length / n;
  const rows = Array.from({ length: n }, (_, i) => Array.from(logits.subarray(i * classes, (i + 1) * classes)));
  // Names where the model's training data (its recorded normalisation) or --data says which data set it is.
  const names = datasetClassNames(opened.normalisation?.dataset ?? flags.data, classes);
  if (flags.json) {
    process.stdout.write(JSON.stringify({ output: rows, ...(names ? { classNames: names } : {}) }) + '\n');
    return;
  }
  const from = flags.input ? `input ${flags.input}` : `seeded input, seed ${flags.seed}`;
  process.stdout.write(`${opened.name} on ${opened.runtime}, ${from}: logits [${n}, ${classes}]\n`);
  rows.forEach((row, i) => process.stdout.write(`${formatRow(row, i, names)}\n`));
}

/**
 * The normalisation for --input pixels: the one the model records (its checkpoint's, or its ONNX
 * metadata), else the data set --data names; none with --no-normalise. A --data that contradicts the
 * recorded one is refused.
 */
function inputNormalisation(opened: OpenedModel, flags: RunFlags): InputNormalisation | null {
  const named = flags.data ? namedNormalisation(flags.data, opened.input[0]) : null;
  const recorded = opened.normalisation;
  if (named && recorded && (named.dataset !== recorded.dataset || named.mean.join() !== recorded.mean.join() || named.std.join() !== recorded.std.join())) {
    throw new UsageError(`--data ${flags.data} contradicts the normalisation the model was trained with, ${describeNormalisation(recorded)}`, 'drop --data (the recorded normalisation is used), or --no-normalise');
  }
  if (!flags.normalise) return null;
  return recorded ?? named;
}

/** What was done to the input, for stderr. */
function normalisationNote(pixels: boolean, applied: InputNormalisation | null, recorded: InputNormalisation | null, flags: RunFlags): string {
  if (!pixels) return `${flags.input} is a float array, used as it is${recorded ? ` (the model was trained on inputs normalised as ${describeNormalisation(recorded)})` : ''}`;
  if (applied) return `pixels scaled to [0, 1], then normalised as in training on ${describeNormalisation(applied)}; --no-normalise to feed them unnormalised`;
  if (!flags.normalise) return 'pixels scaled to [0, 1], not normalised (--no-normalise)';
  return 'pixels scaled to [0, 1], no normalisation applied: the model records none (--data NAME normalises as that data set)';
}

/** `sample 0: class 3 Dress (logit 2.1043); logits [...]`, listing every logit up to 10 classes, else the top 5. */
function formatRow(row: number[], i: number, names: string[] | null): string {
  const order = row.map((v, k) => [k, v] as const).sort((a, b) => b[1] - a[1]);
  const fmt = (v: number) => v.toFixed(4);
  const head = `  sample ${i}: class ${order[0][0]}${names ? ` ${names[order[0][0]]}` : ''} (logit ${fmt(order[0][1])})`;
  if (row.length <= 10) return `${head}; logits [${row.map(fmt).join(', ')}]`;
  return `${head}; top 5: ${order.slice(0, 5).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`;
}
