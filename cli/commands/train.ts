/**
 * `sofar train SPEC --data ...`: trains a spec with the TensorFlow.js or ONNX Runtime engine, shows
 * progress, writes `metrics.jsonl` and a checkpoint each epoch into `--out DIR`, and at the end the
 * trained model as `DIR/model.onnx`. `--resume` continues DIR's run where it stopped (an epoch's end, or
 * a `--checkpoint-every` checkpoint within one), with the settings it was started with unless a flag says
 * otherwise. `--init RUN` starts a new run from another run's weights; `--teacher` distils.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { checkpointPath, readCheckpoint } from '../../src/checkpoint/index.js';
import { DATASET_NAMES, loadDataset } from '../../src/data/index.js';
import { encodeInputNormalisation, NORMALISATION_METADATA_KEY } from '../../src/data/normalise.js';
import { BOP_DEFAULTS, type OptimizerConfig, type OptimizerName } from '../../src/train/engine.js';
import { train, type TrainConfig } from '../../src/train/loop.js';
import { resumeRun, type ConfigRequest } from '../../src/train/resume.js';
import { SCHEDULES, type ScheduleName } from '../../src/train/schedule.js';
import { addSpecOptions, EXIT, InterruptedError, loadGraph, parseNonNegativeInt, parseNumber, parsePositiveInt, setFlagMap, takeOverInterrupts, UsageError, userFailure, withRecordedParams, writeFileAtomic, type SpecFlags } from '../common.js';
import { DEVICES, ENGINES, loadEngineFactory, resolveEngine, type DeviceChoice, type EngineChoice } from '../engines.js';
import { PARAMS_METADATA_KEY } from '../models.js';
import { createProgressRenderer } from '../progress.js';
import { normalisationNote, openTeacher, type Teacher } from '../teacher.js';

interface TrainFlags extends SpecFlags {
  data: string;
  epochs: number;
  batch: number;
  lr: number;
  optimizer: OptimizerName;
  momentum: number;
  bopThreshold?: number;
  bopGamma?: number;
  schedule: ScheduleName;
  weightDecay: number;
  seed: number;
  out?: string;
  resume?: boolean;
  limit?: number;
  engine: EngineChoice;
  device: DeviceChoice;
  threads?: number;
  json?: boolean;
  init?: string;
  teacher?: string;
  teacherWeights?: string;
  distillWeight?: number;
  checkpointEvery?: number;
}

const positiveNumber = (flag: string) => (value: string) => {
  const n = parseNumber(flag)(value);
  if (!(n > 0)) throw new UsageError(`${flag} expects a number > 0, got '${value}'`);
  return n;
};
const nonNegativeNumber = (flag: string) => (value: string) => {
  const n = parseNumber(flag)(value);
  if (n < 0) throw new UsageError(`${flag} expects a number ≥ 0, got '${value}'`);
  return n;
};

const bopGamma = (value: string) => {
  const n = positiveNumber('--bop-gamma')(value);
  if (n > 1) throw new UsageError(`--bop-gamma expects a number in (0, 1], got '${value}'`, 'Bop uses about 1e-4');
  return n;
};

const momentum = (value: string) => {
  const n = nonNegativeNumber('--momentum')(value);
  if (n >= 1) throw new UsageError(`--momentum expects a number in [0, 1), got '${value}'`, 'SGD momentum is usually 0.9');
  return n;
};

export function register(program: Command): void {
  addSpecOptions(
    program
      .command('train')
      .description('train a spec; checkpoints and metrics each epoch, model.onnx at the end')
      .argument('<spec>', 'a .sofar file')
      .option('--data <source>', `${DATASET_NAMES.join(', ')}, or a folder of IDX files or CIFAR-10 batches`, 'fashion-mnist')
      .option('--epochs <n>', 'epochs to train in all', parsePositiveInt('--epochs'), 10)
      .option('--batch <n>', 'batch size', parsePositiveInt('--batch'), 128)
      .option('--lr <x>', 'base learning rate', positiveNumber('--lr'), 1e-3)
      .addOption(new Option('--optimizer <name>', 'optimizer (bop: flips binary weights, Adam for the float ones)').choices(['adam', 'sgd', 'bop']).default('adam'))
      .option('--momentum <x>', 'SGD momentum, in [0, 1)', momentum, 0.9)
      .option('--bop-threshold <x>', `Bop's threshold τ: a binary weight flips when its gradient average passes it (default ${BOP_DEFAULTS.threshold})`, nonNegativeNumber('--bop-threshold'))
      .option('--bop-gamma <x>', `Bop's adaptivity rate γ of the gradient average, in (0, 1] (default ${BOP_DEFAULTS.gamma})`, bopGamma)
      .addOption(new Option('--schedule <name>', 'learning-rate schedule').choices([...SCHEDULES]).default('cosine'))
      .option('--weight-decay <x>', 'L2 weight decay on float kernels', nonNegativeNumber('--weight-decay'), 0)
      .option('--seed <n>', 'seed of the weights, the sample order and every random mask', parseNonNegativeInt('--seed'), 0)
      .option('-o, --out <dir>', 'where checkpoints, metrics and model.onnx go (default runs/<model name>)')
      .option('--resume', 'continue the run in --out from its last checkpoint')
      .option('--limit <n>', 'use only the first N training samples (and a proportional share of the test set)', parsePositiveInt('--limit'))
      .addOption(new Option('--engine <name>', 'training engine (auto: tfjs when tfjs-node is installed, else ort)').choices([...ENGINES]).default('auto'))
      .addOption(
        new Option('--device <name>', 'auto: CUDA (tfjs-node-gpu, tfjs engine), else a hardware WebGPU adapter, else the CPU; gpu: a hardware GPU only; webgpu: any WebGPU adapter, software ones included')
          .choices([...DEVICES])
          .default('auto'),
      )
      .option('--threads <n>', 'CPU threads of the ORT engine (default: every core; beyond 4 they add little)', parsePositiveInt('--threads'))
      .option('--json', 'end with one JSON line: epochs, samplesPerSecond, trainLoss, testAccuracy, engine, device')
      .option('--init <run>', "start from another run's weights (a run folder or checkpoint) where names and shapes match; the rest keep their seeded values. No optimizer state, epoch 1")
      .option('--teacher <model>', "distil from a teacher: a .sofar spec (with --teacher-weights) or a model.onnx; loss = cross-entropy + w · KL(teacher ‖ student)")
      .option('--teacher-weights <run>', "the teacher spec's trained run (folder or checkpoint)")
      .option('--distill-weight <w>', 'the weight w of the KL term (default 1 with --teacher)', nonNegativeNumber('--distill-weight'))
      .option('--checkpoint-every <n>', 'also checkpoint every N optimizer steps within an epoch (Ctrl-C keeps the latest; --resume continues from it exactly)', parsePositiveInt('--checkpoint-every'))
      .addHelpText('after', TRAIN_HELP),
  ).action((spec: string, flags: TrainFlags, cmd: Command) => runTrain(spec, flags, cmd));
}

const TRAIN_HELP = `
Staged training and distillation (ReActNet, Real-to-Binary Net):
  sofar train step1.sofar --out runs/step1                        # binary activations, real weights
  sofar train step2.sofar --init runs/step1 --out runs/step2      # then binary weights, from step 1's
  sofar train student.sofar --teacher teacher.sofar --teacher-weights runs/teacher --distill-weight 1
--init takes every parameter whose name and shape match (and says which it took and which it left);
it refuses a run with none in common. Unlike --resume it takes no optimizer state and starts at epoch 1.
The teacher runs in inference on each batch (the student's images, augmentation included); the loss is
mean cross-entropy + w · mean KL(softmax(teacher) ‖ softmax(student)) (docs/semantics.md), and
metrics.jsonl records the KL term as trainDistillation. A resumed run keeps its teacher unless told.
--checkpoint-every N writes checkpoint.safetensors every N steps besides each epoch's end; a run
stopped after one resumes with --resume to the same weights, bit for bit, as if never stopped.`;

async function runTrain(spec: string, given: TrainFlags, cmd: Command): Promise<void> {
  const outDir = given.out ?? join('runs', loadGraph(spec, given).graph.name);
  checkOutputFolder(outDir);
  // A resumed run continues with the settings and the --set values it was started with, unless flags change them.
  const asked = requestedConfig(given, cmd);
  const resumed = given.resume ? resumeRun(outDir, asked.given, asked.all) : null;
  const flags = resumed ? withRecordedParams(given, resumed.modelParams, `the run in ${outDir}`) : given;
  const { graph } = loadGraph(spec, flags);
  const merged = resumed?.config ?? asked.all;
  const config: TrainConfig = distillationOptions({ ...merged, optimizer: bopOptions(merged.optimizer) });
  if (flags.init && flags.resume) throw new UsageError('--init starts a new run; --resume continues one', 'drop one of them');
  const init = flags.init ? readCheckpoint(flags.init) : undefined;
  const engineName = resolveEngine(flags.engine, flags.device);
  const dataset = loadDataset(config.data, graph, config.limit !== undefined ? { limit: config.limit } : {});
  const engineFactory = await loadEngineFactory(engineName, flags.device);
  const teacher: Teacher | undefined = config.teacher ? await openTeacher(config.teacher, config.teacherWeights, graph) : undefined;

  // Progress goes to stdout, unless stdout is reserved for the JSON result.
  const stream = flags.json ? process.stderr : process.stdout;
  if (config.limit !== undefined && config.limit > dataset.fullSizes.train) {
    stream.write(`note: --limit ${config.limit} is more than the ${dataset.fullSizes.train} training samples of ${config.data}; using them all\n`);
  }
  const teacherNote = teacher && normalisationNote(teacher, config.teacher!, dataset.normalisation);
  if (teacherNote) stream.write(`note: ${teacherNote}\n`);
  const progress = createProgressRenderer({ stream });
  const controller = new AbortController();
  // The first Ctrl-C stops after the current step; a second one does not wait.
  const releaseInterrupts = takeOverInterrupts(() => {
    if (!controller.signal.aborted) return controller.abort();
    process.stderr.write('\ninterrupted again: stopping now\n');
    process.exit(EXIT.interrupted);
  });
  try {
    let result;
    try {
      result = await train({
        graph,
        dataset,
        engineFactory,
        config,
        outDir,
        resume: resumed ?? false,
        onEvent: progress.onEvent,
        signal: controller.signal,
        modelParams: setFlagMap(flags.set),
        ...(flags.threads ? { threads: flags.threads } : {}),
        ...(init ? { init } : {}),
        ...(teacher ? { teacher: teacher.predict } : {}),
      });
    } catch (e) {
      if (controller.signal.aborted) throw interrupted(spec, outDir, cmd, config.checkpointEvery !== undefined);
      throw e;
    } finally {
      progress.stop();
      await teacher?.release();
    }
    // Still ours: a Ctrl-C now lets the model be written, so it always matches the checkpoint.
    const { exportOnnx } = await import('../../backends/onnx/index.js');
    const modelPath = join(outDir, 'model.onnx');
    const normalisation = encodeInputNormalisation({ dataset: dataset.source, ...dataset.normalisation });
    const metadata = { [NORMALISATION_METADATA_KEY]: normalisation, [PARAMS_METADATA_KEY]: JSON.stringify(setFlagMap(flags.set)) };
    writeFileAtomic(modelPath, exportOnnx(graph, result.weights, { metadata }));
    stream.write(`checkpoint ${result.checkpointPath}\nmodel ${modelPath}\n`);
    const { epochs, samplesPerSecond, trainLoss, testAccuracy } = result.summary;
    if (flags.json) process.stdout.write(JSON.stringify({ epochs, samplesPerSecond, trainLoss, testAccuracy, engine: result.engine, device: result.device }) + '\n');
  } finally {
    releaseInterrupts();
  }
}

/** What an interrupted run kept, and the command that carries on: every flag given, with --out and --resume. */
function interrupted(spec: string, outDir: string, cmd: Command, midEpoch: boolean): InterruptedError {
  const path = checkpointPath(outDir);
  const saved = existsSync(path);
  const again = (resume: boolean) => [...trainCommand(spec, cmd, resume), '--out', shellWord(outDir), ...(resume ? ['--resume'] : [])].join(' ');
  const position = () => {
    const { epoch, step, partialEpoch } = readCheckpoint(path).meta;
    return partialEpoch ? `the checkpoint of step ${step} (within epoch ${epoch + 1}) is saved in ${path}` : `the last complete epoch (${epoch}) is saved in ${path}`;
  };
  return new InterruptedError([
    {
      severity: 'error',
      code: 'interrupted',
      message: saved ? `training interrupted; ${position()}` : `training interrupted before its first ${midEpoch ? 'checkpoint' : 'epoch ended'}; nothing was saved`,
      hint: saved ? `continue with: ${again(true)}` : `start again with: ${again(false)}`,
    },
  ]);
}

/** `sofar train SPEC` and the flags given on the command line (not their defaults), --out and --resume left out (and --init, to resume). */
function trainCommand(spec: string, cmd: Command, resume: boolean): string[] {
  const words = ['sofar', 'train', shellWord(spec)];
  for (const option of cmd.options) {
    const key = option.attributeName();
    if (key === 'out' || key === 'resume' || (resume && key === 'init') || cmd.getOptionValueSource(key) !== 'cli') continue;
    const value: unknown = cmd.getOptionValue(key);
    if (typeof value === 'boolean') {
      if (value !== option.negate) words.push(option.long!);
    } else {
      for (const v of Array.isArray(value) ? value : [value]) words.push(option.long!, shellWord(String(v)));
    }
  }
  return words;
}

/** A word as a POSIX shell reads it back: quoted when it holds anything beyond plain characters. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Refuses, before any data is loaded, an --out that is a file or whose model.onnx is a folder. */
function checkOutputFolder(outDir: string): void {
  if (existsSync(outDir) && !statSync(outDir).isDirectory()) throw userFailure(`--out ${outDir} is a file, not a folder`, 'give a folder for checkpoints, metrics and model.onnx');
  const model = join(outDir, 'model.onnx');
  if (existsSync(model) && statSync(model).isDirectory()) throw userFailure(`${model} is a folder, so the trained model could not be written there`, 'remove it or choose another --out');
}

/**
 * The configuration the flags ask for: `all` from every flag's value, defaults included; `given` from
 * the flags on the command line only (what a resumed run takes instead of its recorded settings).
 */
function requestedConfig(flags: TrainFlags, cmd: Command): { all: TrainConfig; given: ConfigRequest } {
  const onCommandLine = (flag: keyof TrainFlags) => cmd.getOptionValueSource(flag) === 'cli';
  return {
    all: configFrom((flag) => flags[flag]) as TrainConfig,
    given: configFrom((flag) => (onCommandLine(flag) ? flags[flag] : undefined)),
  };
}

/** The settings of a configuration from flag values; a flag without a value leaves its setting undefined. */
function configFrom(value: <K extends keyof TrainFlags>(flag: K) => TrainFlags[K] | undefined): ConfigRequest {
  return {
    epochs: value('epochs'),
    batchSize: value('batch'),
    lr: value('lr'),
    schedule: value('schedule'),
    optimizer: { name: value('optimizer'), momentum: value('momentum'), weightDecay: value('weightDecay'), bopThreshold: value('bopThreshold'), bopGamma: value('bopGamma') },
    seed: value('seed'),
    data: value('data'),
    limit: value('limit'),
    checkpointEvery: value('checkpointEvery'),
    teacher: value('teacher'),
    teacherWeights: value('teacherWeights'),
    distillWeight: value('distillWeight'),
    init: value('init'),
  };
}

/** --distill-weight and --teacher-weights go with a teacher, whose weight is 1 unless given. */
function distillationOptions(c: TrainConfig): TrainConfig {
  if (!c.teacher) {
    if (c.distillWeight !== undefined || c.teacherWeights !== undefined) throw new UsageError('--distill-weight and --teacher-weights go with --teacher', 'name the teacher: --teacher SPEC --teacher-weights RUN, or --teacher MODEL.onnx');
    return c;
  }
  return { ...c, distillWeight: c.distillWeight ?? 1 };
}

/** Bop's settings go with Bop (its defaults filled in); with another optimizer they are refused rather than ignored. */
function bopOptions(o: OptimizerConfig): OptimizerConfig {
  const { bopThreshold: threshold, bopGamma: gamma, ...rest } = o;
  if (o.name !== 'bop') {
    if (threshold !== undefined || gamma !== undefined) throw new UsageError('--bop-threshold and --bop-gamma go with --optimizer bop');
    return rest;
  }
  return { ...rest, bopThreshold: threshold ?? BOP_DEFAULTS.threshold, bopGamma: gamma ?? BOP_DEFAULTS.gamma };
}
