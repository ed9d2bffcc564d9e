/**
 * `sofar convert MODEL.onnx --binary-ops` (issue 24, item 10): SoFAr's standard export of a model, in
 * any of its variants, becomes byte for byte the --binary-ops model that `sofar build --binary-ops`
 * writes from the same weights (from the graph it records, or from its spec where it records none) (magnitude-aware scales included), keeping the recorded normalisation;
 * what is not a SoFAr standard export is refused with the way out. And `sofar run` names the classes
 * where the model's data set is known (item 11).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { register as registerBuild } from '../../cli/commands/build.js';
import { register as registerConvert } from '../../cli/commands/convert.js';
import { register as registerRun } from '../../cli/commands/run.js';
import { exportModel } from '../../cli/models.js';
import { readModelMetadata } from '../../backends/onnx/proto.js';
import { compileFile } from '../../src/compile.js';
import { initWeights } from '../../src/weights/init.js';
import { inProcessCli } from '../helpers/cli.js';
import { tempDirs } from '../helpers/temp.js';
import { withoutGraphRecord } from '../helpers/trained-export.js';

const sofar = inProcessCli([registerBuild, registerConvert, registerRun], { muteStderr: true });
const SPEC = 'specs/fashion/bireal-small.sofar';

describe('sofar convert --binary-ops', () => {
  const dir = { path: tempDirs('sofar-convert-')() };
  const direct = join(dir.path, 'direct.onnx');

  it.each([[[]], [['--no-pack']], [['--int']]])('turns the standard export %j into the --binary-ops export of the same weights', async (variant) => {
    const standard = join(dir.path, `standard${variant.join('')}.onnx`);
    await sofar('build', SPEC, '--seed', '5', ...variant, '-o', standard);
    await sofar('build', SPEC, '--seed', '5', '--binary-ops', '-o', direct);
    const out = await sofar('convert', standard, '--binary-ops');
    const converted = standard.replace(/\.onnx$/, '.binary-ops.onnx');
    expect(out).toMatch(/^wrote .*binary-ops\.onnx \(fashion_bireal_small, binary layers as ai\.sofar operators; weights: seeded init, seed 5\)/);
    expect(Buffer.compare(readFileSync(converted), readFileSync(direct))).toBe(0);
  });

  it('converts an export that records no graph (SoFAr before it did) from the spec its summary names', async () => {
    const old = join(dir.path, 'old.onnx');
    await sofar('build', SPEC, '--seed', '5', '-o', old);
    writeFileSync(old, withoutGraphRecord(readFileSync(old)));
    await sofar('convert', old, '--binary-ops', '-o', join(dir.path, 'old.binary-ops.onnx'));
    expect(Buffer.compare(readFileSync(join(dir.path, 'old.binary-ops.onnx')), readFileSync(direct))).toBe(0);
  });

  it('keeps the input normalisation the model records', async () => {
    const graph = compileFile(SPEC).graph!;
    const normalisation = { dataset: 'fashion-mnist', mean: [0.286], std: [0.353] };
    const trained = join(dir.path, 'model.onnx');
    writeFileSync(trained, await exportModel(graph, initWeights(graph, 1), { pack: true }, 'runs/x/checkpoint.safetensors (epoch 2)', { normalisation }));
    await sofar('convert', trained, '--binary-ops', '-o', join(dir.path, 'model.binary.onnx'));
    const metadata = readModelMetadata(readFileSync(join(dir.path, 'model.binary.onnx')));
    expect(metadata).toMatchObject({ 'sofar.variant': 'binary-ops', 'sofar.weights': 'runs/x/checkpoint.safetensors (epoch 2)' });
    expect(JSON.parse(metadata['sofar.normalisation'])).toMatchObject(normalisation);
    // sofar run names the classes of the data set the model records (item 11).
    const run = await sofar('run', join(dir.path, 'model.binary.onnx'), '--runtime', 'sofar');
    expect(run).toMatch(/sample 0: class \d (T-shirt\/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot) \(logit/);
    const json = JSON.parse(await sofar('run', join(dir.path, 'model.binary.onnx'), '--runtime', 'sofar', '--json')) as { classNames?: string[] };
    expect(json.classNames?.[9]).toBe('Ankle boot');
  });

  it('refuses what it cannot convert, saying what to do', async () => {
    await expect(sofar('convert', direct)).rejects.toThrow(/convert needs the form to convert to/);
    await expect(sofar('convert', direct, '--binary-ops')).rejects.toMatchObject({ diagnostics: [{ message: expect.stringMatching(/is already the --binary-ops form/) }] });
    const foreign = join(dir.path, 'foreign.onnx');
    writeFileSync(foreign, new Uint8Array([8, 7]));
    await expect(sofar('convert', foreign, '--binary-ops')).rejects.toMatchObject({ diagnostics: [{ message: expect.stringMatching(/not a model SoFAr exported/), hint: expect.stringMatching(/sofar build SPEC --weights RUN --binary-ops/) }] });
    await expect(sofar('convert', join(dir.path, 'standard.onnx'), '--binary-ops', '--spec', 'specs/fashion/rf-c3-small.sofar')).rejects.toMatchObject({ diagnostics: [{ message: expect.stringMatching(/does not hold the weights|no model named|not defined/i) }] });
  });
});
