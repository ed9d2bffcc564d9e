/**
 * Saved models: `model.json` + `weights.bin` in TensorFlow.js' layers-model format, written atomically,
 * loading back with `tf.loadLayersModel` (through tf.io.fromMemory and through a file-reading handler)
 * once SoFAr's layers are registered, with identical outputs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { buildTfjsModel, loadTfjsModel, predictNchw, registerSofarLayers, saveTfjsModel } from '../../backends/tfjs/index.js';
import { busyWeights, everyOpGraph, normalValues } from './graphs.js';
import { tempDir } from '../helpers/temp.js';

const dir = tempDir('sofar-tfjs-save-');

describe('saving the tfjs model', () => {
  const graph = everyOpGraph();
  const weights = busyWeights(graph, 21);
  const x = normalValues(2 * 2 * 8 * 8, 22);

  it('writes model.json and weights.bin, and loads back with identical outputs', async () => {
    const model = buildTfjsModel(graph, weights, tf);
    const out = join(dir, 'model');
    const info = await saveTfjsModel(model, out, { graph: graph.name, input: graph.input, layout: 'NHWC' }, tf);
    const expected = await predictNchw(model, graph, x, 2, tf);
    model.dispose();

    expect(readdirSync(out).sort()).toEqual(['model.json', 'weights.bin']); // no temporary files left
    const json = JSON.parse(readFileSync(info.modelJson, 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.weightsManifest[0].paths).toEqual(['./weights.bin']);
    expect(json.userDefinedMetadata.sofar).toEqual({ graph: 'every_op', input: [2, 8, 8], layout: 'NHWC' });
    const classNames = new Set(json.modelTopology.config.layers.map((l: { class_name: string }) => l.class_name));
    for (const name of ['SofarQuantConv2D', 'SofarQuantDense', 'SofarQuantizer', 'SofarPool2D', 'SofarJoin', 'SofarFlatten', 'SofarHardtanh', 'BatchNormalization', 'SofarBias', 'SofarMultiply', 'SofarAddInto', 'Activation']) {
      expect(classNames).toContain(name);
    }
    // Every float parameter is stored: 4 bytes each.
    const count = graph.nodes.flatMap((n) => n.params).reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
    expect(info.weightBytes).toBe(4 * count);
    expect(readFileSync(info.weightsBin).byteLength).toBe(4 * count);

    const loaded = await loadTfjsModel(out, tf);
    try {
      expect(await predictNchw(loaded, graph, x, 2, tf)).toEqual(expected);
      // Quantizer names and join modes survive Keras' snake_case round trip of configs.
      const configs = loaded.layers.map((l) => l.getConfig());
      const quantizers = configs.flatMap((c) => [c.quantizer, c.kernelQuantizer]).filter(Boolean) as { name: string }[];
      const names = ['ste_sign', 'approx_sign', 'swish_sign', 'magnitude_aware_sign', 'magnitude_aware_sign_unclipped', 'xnor_weight_scale', 'ste_heaviside', 'dorefa'];
      expect(new Set(quantizers.map((q) => q.name))).toEqual(new Set(names));
      expect(quantizers.find((q) => q.name === 'dorefa')).toEqual({ name: 'dorefa', args: { k_bit: 2 } });
      expect(new Set(configs.map((c) => c.mode).filter(Boolean))).toEqual(new Set(['mean', 'max', 'sum', 'concat', 'avg']));
      // Today's layer settings survive too: pad value, the fixed kernel's trainability, add_into's
      // offset, batch norm without scale or centre (no gamma, no beta weights).
      const byName = new Map(loaded.layers.map((l) => [l.name, l]));
      expect(byName.get('one_padded')!.getConfig().padValue).toBe(1);
      expect(byName.get('blur')!.getConfig().kernelTrainable).toBe(false);
      expect(byName.get('blur')!.trainableWeights).toEqual([]);
      expect(byName.get('add_into')!.getConfig().offset).toBe(1);
      expect(byName.get('bn_no_scale')!.weights.map((w) => w.originalName.split('/').pop())).toEqual(['beta', 'moving_mean', 'moving_variance']);
      expect(byName.get('bn_plain')!.weights.map((w) => w.originalName.split('/').pop())).toEqual(['moving_mean', 'moving_variance']);
      expect(byName.get('bias')!.weights.map((w) => w.shape)).toEqual([[4]]);
    } finally {
      loaded.dispose();
    }
  });

  it('loads with tf.loadLayersModel from memory after registerSofarLayers', async () => {
    const model = buildTfjsModel(graph, weights, tf);
    const out = join(dir, 'memory');
    await saveTfjsModel(model, out, {}, tf);
    const expected = await predictNchw(model, graph, x, 2, tf);
    model.dispose();

    registerSofarLayers(tf);
    const json = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
    const bin = readFileSync(join(out, 'weights.bin'));
    const loaded = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest[0].weights,
        weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
      }),
    );
    try {
      expect(await predictNchw(loaded, graph, x, 2, tf)).toEqual(expected);
    } finally {
      loaded.dispose();
    }
  });
});

describe('the browser-facing layers module', () => {
  it('imports nothing from Node (it must load in a browser)', () => {
    // Follows relative imports from backends/tfjs/layers.ts and collects every module specifier.
    const seen = new Set<string>();
    const specifiers = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/^import\s[^;]*?from\s+'([^']+)'/gms)) {
        const spec = m[1];
        if (spec.startsWith('.')) visit(join(file, '..', spec.replace(/\.js$/, '.ts')));
        else specifiers.add(spec);
      }
    };
    visit(join(__dirname, '../../backends/tfjs/layers.ts'));
    expect(seen.size).toBeGreaterThan(3);
    expect([...specifiers].filter((s) => s.startsWith('node:') || ['fs', 'path', 'os'].includes(s))).toEqual([]);
    expect([...specifiers]).toContain('@tensorflow/tfjs');
  });
});
