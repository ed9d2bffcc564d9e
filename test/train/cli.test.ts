/**
 * `sofar train` and `sofar eval` through commander, as the CLI runs them (ONNX Runtime engine, the
 * tiny fixture spec, synthetic data).
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UserError } from '../../cli/common.js';
import { register as registerBuild } from '../../cli/commands/build.js';
import { register as registerEval } from '../../cli/commands/eval.js';
import { resolveEngine } from '../../cli/engines.js';
import { normalisationNote } from '../../cli/teacher.js';
import { register as registerTrain } from '../../cli/commands/train.js';
import { onnx } from '../../backends/onnx/proto.js';
import { readCheckpoint, writeCheckpoint } from '../../src/checkpoint/index.js';
import { compileFile } from '../../src/compile.js';
import { initWeights } from '../../src/weights/init.js';
import { REQUIRE_ALL } from '../helpers/requirements.js';
import { inProcessCli } from '../helpers/cli.js';
import { tempDirs } from '../helpers/temp.js';

const SPEC = join(import.meta.dirname, 'fixtures', 'tiny.sofar');
const PARAMS_SPEC = join(import.meta.dirname, 'fixtures', 'tiny-params.sofar');
const tempDir = tempDirs('sofar-cli-');
afterEach(() => vi.restoreAllMocks());

/** Runs `sofar ...args` and returns what it printed on stdout. */
const sofar = inProcessCli([registerTrain, registerEval, registerBuild], { muteStderr: true });

const common = ['--data', 'synthetic', '--batch', '32', '--lr', '0.01', '--engine', 'ort', '--limit', '512'];

describe('sofar train / eval', () => {
  it('trains, leaves a checkpoint, metrics and model.onnx, prints the JSON summary last; eval agrees', async () => {
    const out = tempDir();
    const stdout = await sofar('train', SPEC, ...common, '--epochs', '2', '--out', out, '--json');
    const last = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(Object.keys(last).sort()).toEqual(['device', 'engine', 'epochs', 'samplesPerSecond', 'testAccuracy', 'trainLoss']);
    expect(last.device).toMatch(/^(cpu|webgpu) \(/);
    expect(last.epochs).toBe(2);
    expect(last.samplesPerSecond).toBeGreaterThan(0);
    for (const f of ['checkpoint.safetensors', 'metrics.jsonl', 'model.onnx']) expect(existsSync(join(out, f)), f).toBe(true);
    expect(readCheckpoint(out).meta).toMatchObject({ epoch: 2, engine: 'ort', seed: 0, spec: 'tiny_rf' });
    // The input normalisation of the data (synthetic: already centred, the identity) travels with the run.
    const normalisation = { dataset: 'synthetic', mean: [0], std: [1] };
    expect(readCheckpoint(out).meta.normalisation).toEqual(normalisation);
    const exported = onnx.ModelProto.decode(readFileSync(join(out, 'model.onnx'))).metadataProps!;
    expect(JSON.parse(exported.find((p) => p.key === 'sofar.normalisation')!.value!)).toEqual(normalisation);
    expect(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);

    // The same test share (train --limit 512 → 128 test samples; eval --limit N → the first N) through the exported model and the spec.
    const fromModel = JSON.parse(await sofar('eval', join(out, 'model.onnx'), '--data', 'synthetic', '--limit', '128', '--json'));
    expect(fromModel.samples).toBe(128);
    expect(fromModel.accuracy).toBe(last.testAccuracy);
    const fromSpec = JSON.parse(await sofar('eval', SPEC, '--weights', out, '--data', 'synthetic', '--limit', '128', '--json'));
    expect(fromSpec.accuracy).toBe(last.testAccuracy);
    const human = await sofar('eval', join(out, 'model.onnx'), '--data', 'synthetic', '--limit', '128');
    expect(human).toMatch(/model\.onnx on synthetic: accuracy \d+\.\d\d% \(\d+\/128\), loss \d\.\d{4}/);

    // An exported model's input is fixed: the hint says so rather than suggesting a spec edit.
    if (REQUIRE_ALL || existsSync('/usr/share/datasets/fashion-mnist')) {
      const wrong = await sofar('eval', join(out, 'model.onnx'), '--data', 'fashion-mnist').catch((e) => e);
      expect(wrong).toBeInstanceOf(UserError);
      expect(wrong.diagnostics[0].hint).toMatch(/^evaluate it on a data set of 1×8×8 images, or export the spec again/);
    }
  });

  it('--resume takes the run’s settings from its checkpoint unless flags change them', async () => {
    const out = tempDir();
    await sofar('train', SPEC, ...common, '--epochs', '1', '--seed', '7', '--out', out);
    // No --data, --seed, --batch or --limit: they come from the checkpoint.
    const stdout = await sofar('train', SPEC, '--engine', 'ort', '--out', out, '--resume', '--epochs', '2', '--json');
    expect(JSON.parse(stdout.trim().split('\n').pop()!).epochs).toBe(2);
    expect(readCheckpoint(out).meta).toMatchObject({ epoch: 2, seed: 7, step: 32 });
    await expect(sofar('train', SPEC, '--engine', 'ort', '--out', out, '--resume', '--batch', '64')).rejects.toThrow(/batchSize = 32, this run asks for 64/);
  });

  it('--set values belong to the run: recorded, used when left out, a contradiction refused', async () => {
    const out = tempDir();
    const set = ['--set', 'join=sum', '--set', 'width=6'];
    const last = JSON.parse((await sofar('train', PARAMS_SPEC, ...common, ...set, '--epochs', '1', '--out', out, '--json')).trim().split('\n').pop()!);
    const recorded = { join: 'sum', width: '6' };
    expect(readCheckpoint(out).meta.modelParams).toEqual(recorded);
    const metadata = (path: string) => Object.fromEntries(onnx.ModelProto.decode(readFileSync(path)).metadataProps!.map((p) => [p.key, p.value!]));
    expect(JSON.parse(metadata(join(out, 'model.onnx'))['sofar.params'])).toEqual(recorded);

    // Left out, they come from the checkpoint (width = 6 is needed for the weights to fit at all; join = sum is checked by the export).
    const evaluated = JSON.parse(await sofar('eval', PARAMS_SPEC, '--weights', out, '--data', 'synthetic', '--limit', '128', '--json'));
    expect(evaluated.accuracy).toBe(last.testAccuracy);
    const fromJoinOnly = JSON.parse(await sofar('eval', PARAMS_SPEC, '--weights', out, '--set', 'width=6', '--data', 'synthetic', '--limit', '128', '--json'));
    expect(fromJoinOnly.accuracy).toBe(last.testAccuracy);
    await sofar('build', PARAMS_SPEC, '--weights', out, '-o', join(out, 'rebuilt.onnx'));
    expect(JSON.parse(metadata(join(out, 'rebuilt.onnx'))['sofar.params'])).toEqual(recorded);
    const graphOf = (path: string) => onnx.ModelProto.decode(readFileSync(path)).graph;
    expect(graphOf(join(out, 'rebuilt.onnx'))).toEqual(graphOf(join(out, 'model.onnx')));

    // A contradiction is refused, naming the value the run used.
    await expect(sofar('eval', PARAMS_SPEC, '--weights', out, '--set', 'join=max', '--data', 'synthetic')).rejects.toThrow(/--set join=max contradicts the run in .*, trained with --set join=sum/);
    await expect(sofar('train', PARAMS_SPEC, '--engine', 'ort', '--out', out, '--resume', '--set', 'join=mean')).rejects.toThrow(/--set join=mean contradicts/);
    // Resumed without them, the run carries on with join = sum and width = 6.
    await sofar('train', PARAMS_SPEC, '--engine', 'ort', '--out', out, '--resume', '--epochs', '2');
    expect(readCheckpoint(out).meta).toMatchObject({ epoch: 2, modelParams: recorded });

    // A checkpoint that does not record them: the mismatch names --set as the likely cause.
    const old = tempDir();
    const graph = compileFile(PARAMS_SPEC).graph!;
    writeCheckpoint(old, { graph, weights: initWeights(graph, 0), slots: new Map(), step: 1, epoch: 1, meta: { seed: 0, engine: 'test' } });
    const err = await sofar('eval', PARAMS_SPEC, '--weights', old, '--set', 'width=6', '--data', 'synthetic').catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.diagnostics[0].hint).toMatch(/a --set value is the likely cause/);
  });

  it('--optimizer bop trains, with the flip ratio in metrics.jsonl and on the epoch line; its flags go with it only', async () => {
    const out = tempDir();
    const stdout = await sofar('train', SPEC, ...common, '--epochs', '1', '--optimizer', 'bop', '--bop-threshold', '1e-6', '--bop-gamma', '0.001', '--out', out);
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim());
    expect(metrics.flipRatio).toBeGreaterThan(0);
    expect(metrics.flipRatio).toBeLessThan(1);
    expect(stdout).toMatch(/epoch 1\/1 .* flips \d/);
    expect(readCheckpoint(out).meta.config).toMatchObject({ optimizer: { name: 'bop', bopThreshold: 1e-6, bopGamma: 0.001 } });
    await expect(sofar('train', SPEC, ...common, '--bop-gamma', '0.001', '--out', tempDir())).rejects.toThrow(/--bop-threshold and --bop-gamma go with --optimizer bop/);
    await expect(sofar('train', SPEC, ...common, '--optimizer', 'bop', '--bop-gamma', '2', '--out', tempDir())).rejects.toThrow(/--bop-gamma expects a number in \(0, 1\]/);
  });

  it('a damaged metrics.jsonl is a user error naming its line, not a crash', async () => {
    const out = tempDir();
    await sofar('train', SPEC, ...common, '--epochs', '1', '--out', out);
    appendFileSync(join(out, 'metrics.jsonl'), 'garbage{\n');
    const err = await sofar('train', SPEC, '--engine', 'ort', '--out', out, '--resume', '--epochs', '2').catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/metrics\.jsonl:2 is not a metrics line/);
  });

  it('says when --limit asks for more samples than the data set has', async () => {
    const stdout = await sofar('train', SPEC, '--data', 'synthetic', '--batch', '128', '--engine', 'ort', '--limit', '5000', '--epochs', '1', '--out', tempDir());
    expect(stdout).toContain('note: --limit 5000 is more than the 1024 training samples of synthetic; using them all');
    expect(stdout).toContain('1024 training and 256 test samples');
  });

  it('turns bad input into user errors and bad flags into usage errors', async () => {
    const out = tempDir();
    const err = await sofar('train', SPEC, '--data', join(out, 'missing'), '--out', out, '--engine', 'ort').catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/no data set at .*missing/);
    const shape = await sofar('train', SPEC, '--data', 'fashion-mnist', '--out', out, '--engine', 'ort').catch((e) => e);
    expect(shape).toBeInstanceOf(UserError);
    // Where Fashion-MNIST is installed (always under .ci/run) the shapes are compared; elsewhere its absence is named.
    const installed = REQUIRE_ALL || existsSync('/usr/share/datasets/fashion-mnist');
    expect(shape.message).toMatch(installed ? /are 1×28×28 but the model 'tiny_rf' takes 1×8×8 input/ : /fashion-mnist data set is not installed/);
    await expect(sofar('train', SPEC, '--device', 'tpu')).rejects.toThrow(/Allowed choices are auto, gpu, webgpu, cpu/);
    await expect(sofar('train', SPEC, '--epochs', '0')).rejects.toThrow(/--epochs expects a positive whole number/);
    await expect(sofar('train', SPEC, '--lr', '-1')).rejects.toThrow(/--lr expects a number > 0/);
    await expect(sofar('train', SPEC, '--schedule', 'exp')).rejects.toThrow(/Allowed choices are constant, linear, cosine, step/);
    await expect(sofar('eval', SPEC, '--weights', out, '--data', 'synthetic')).rejects.toThrow(/no checkpoint at/);
    await expect(sofar('eval', join(out, 'nope.onnx'), '--data', 'synthetic')).rejects.toThrow(/no model at/);
  });

  it('--init starts a new run from another run’s weights and says what it took; refuses a run with nothing in common', async () => {
    const first = tempDir();
    await sofar('train', SPEC, ...common, '--limit', '128', '--epochs', '1', '--out', first);
    // tiny_params at its defaults has tiny_rf's layers under the same names, but no dropout.
    const second = tempDir();
    const stdout = await sofar('train', PARAMS_SPEC, ...common, '--limit', '128', '--epochs', '1', '--init', first, '--out', second);
    expect(stdout).toMatch(/note: initialised from .*checkpoint\.safetensors: (\d+) of \1 parameter tensors taken/);
    expect(readCheckpoint(second).meta).toMatchObject({ epoch: 1, step: 4, spec: 'tiny_params' });
    expect(readCheckpoint(second).meta.config).toMatchObject({ init: first });
    // Wider: the 3×3 convs change shape, the dense bias does not.
    const wider = await sofar('train', PARAMS_SPEC, ...common, '--set', 'width=8', '--limit', '128', '--epochs', '1', '--init', first, '--out', tempDir());
    expect(wider).toMatch(/left at their initial values, of another shape in the run: conv\/kernel \(run 4×1×3×3, here 8×1×3×3\)/);
    const lone = join(tempDir(), 'lone.sofar');
    writeFileSync(lone, 'model lone {\n  input 1x8x8\n  classes 4\n  flatten\n  dense 4 bias=false\n}\n');
    const none = await sofar('train', lone, ...common, '--epochs', '1', '--init', first, '--out', tempDir()).catch((e) => e);
    expect(none).toBeInstanceOf(UserError);
    expect(none.message).toMatch(/shares no parameter of the same name and shape with model 'lone'/);
    await expect(sofar('train', SPEC, ...common, '--init', first, '--resume', '--out', second)).rejects.toThrow(/--init starts a new run; --resume continues one/);
  });

  it('--teacher distils from a spec with its run’s weights, or from a model.onnx; its flags go with it', async () => {
    const teacherRun = tempDir();
    await sofar('train', SPEC, ...common, '--limit', '128', '--epochs', '1', '--out', teacherRun);
    const out = tempDir();
    await sofar('train', SPEC, ...common, '--limit', '128', '--epochs', '1', '--seed', '1', '--teacher', SPEC, '--teacher-weights', teacherRun, '--distill-weight', '0.5', '--out', out);
    const line = JSON.parse(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim());
    expect(line.trainDistillation).toBeGreaterThan(0);
    expect(readCheckpoint(out).meta.config).toMatchObject({ teacher: SPEC, teacherWeights: teacherRun, distillWeight: 0.5 });
    const fromOnnx = tempDir();
    await sofar('train', SPEC, ...common, '--limit', '128', '--epochs', '1', '--seed', '1', '--teacher', join(teacherRun, 'model.onnx'), '--distill-weight', '0.5', '--out', fromOnnx);
    // The exported model is the teacher spec with the run's weights: the same teacher, the same run.
    expect(readFileSync(join(fromOnnx, 'metrics.jsonl'), 'utf8').trim()).toContain(`"trainLoss":${line.trainLoss},`);
    await expect(sofar('train', SPEC, ...common, '--teacher', SPEC, '--out', tempDir())).rejects.toThrow(/a teacher spec needs its trained weights: --teacher-weights RUN/);
    await expect(sofar('train', SPEC, ...common, '--distill-weight', '1', '--out', tempDir())).rejects.toThrow(/--distill-weight and --teacher-weights go with --teacher/);
    const lone = join(tempDir(), 'lone.sofar');
    writeFileSync(lone, 'model lone {\n  input 1x8x8\n  classes 4\n  flatten\n  dense 4\n}\n');
    const wrong = await sofar('train', SPEC, ...common, '--teacher', lone, '--teacher-weights', teacherRun, '--out', tempDir()).catch((e) => e);
    expect(wrong).toBeInstanceOf(UserError);
    expect(wrong.message).toMatch(/trained for model 'tiny_rf' and does not fit 'lone'/);
  });

  it('notes a teacher trained on inputs normalised otherwise than the student’s', () => {
    const teacher = (mean: number[], std: number[]) => ({ predict: async () => new Float32Array(), release: async () => {}, normalisation: { dataset: 'fashion-mnist', mean, std } });
    expect(normalisationNote(teacher([0.286], [0.353]), 't.onnx', { mean: [0.286], std: [0.353] })).toBeNull();
    expect(normalisationNote(teacher([0.286], [0.353]), 't.onnx', { mean: [0], std: [1] })).toBe(
      "the teacher t.onnx was trained on inputs normalised with mean [0.286], std [0.353]; it sees the student's (mean [0], std [1])",
    );
    expect(normalisationNote({ ...teacher([0], [1]), normalisation: null }, 't.onnx', { mean: [0.5], std: [1] })).toBeNull();
  });

  it('--checkpoint-every N is recorded with the run (a resumed run keeps it) and takes a whole N ≥ 1', async () => {
    const out = tempDir();
    await sofar('train', SPEC, ...common, '--limit', '256', '--epochs', '1', '--checkpoint-every', '3', '--out', out);
    expect(readCheckpoint(out).meta).toMatchObject({ epoch: 1, step: 8 });
    expect(readCheckpoint(out).meta.config).toMatchObject({ checkpointEvery: 3 });
    await expect(sofar('train', SPEC, '--checkpoint-every', '0')).rejects.toThrow(/--checkpoint-every expects a positive whole number/);
  });

  it('auto picks tfjs only when a native tfjs package is installed; either engine takes a GPU (WebGPU)', () => {
    const none = () => false;
    expect(resolveEngine('auto', 'auto', none)).toBe('ort');
    expect(resolveEngine('auto', 'auto', (n) => n === '@tensorflow/tfjs-node')).toBe('tfjs');
    expect(resolveEngine('auto', 'auto', (n) => n === '@tensorflow/tfjs-node-gpu')).toBe('tfjs');
    expect(resolveEngine('auto', 'gpu', none)).toBe('ort');
    expect(resolveEngine('auto', 'gpu', (n) => n === '@tensorflow/tfjs-node-gpu')).toBe('tfjs');
    expect(resolveEngine('tfjs', 'cpu', none)).toBe('tfjs');
    expect(resolveEngine('ort', 'webgpu', none)).toBe('ort');
  });
});
