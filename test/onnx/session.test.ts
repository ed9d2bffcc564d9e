/**
 * SoFAr's onnxruntime session options: `stopSpinning` sets onnxruntime's own config key (so that a
 * side-by-side benchmark's onnxruntime threads stop spinning when a run ends), and changes no result.
 */
import { describe, expect, it } from 'vitest';
import { ortSessionOptions } from '../../backends/onnx/session.js';
import { compileFile } from '../../src/compile.js';
import { initWeights } from '../../src/weights/init.js';
import { randomInput, runExported } from './util.js';

/** onnxruntime-node's `extra` options, flattened to the dotted keys onnxruntime reads. */
function configKeys(extra: unknown, prefix = ''): Record<string, unknown> {
  if (typeof extra !== 'object' || extra === null) return { [prefix]: extra };
  return Object.assign({}, ...Object.entries(extra).map(([k, v]) => configKeys(v, prefix ? `${prefix}.${k}` : k)));
}

describe('onnxruntime session options', () => {
  it('stopSpinning sets session.force_spinning_stop (onnxruntime_session_options_config_keys.h), and only it', () => {
    expect(configKeys(ortSessionOptions({ threads: 2, stopSpinning: true }).extra)).toEqual({ 'session.force_spinning_stop': '1' });
    expect(ortSessionOptions({ threads: 2 }).extra).toBeUndefined();
    expect(ortSessionOptions({ threads: 2, stopSpinning: true }).intraOpNumThreads).toBe(2);
  });

  it('a session that stops its threads spinning gives the same logits', async () => {
    const { graph } = compileFile('specs/fashion/bireal-small.sofar');
    if (!graph) throw new Error('the spec does not compile');
    const weights = initWeights(graph, 3);
    const x = randomInput(4 * 28 * 28, 5);
    const plain = await runExported(graph, weights, x, 4, {}, { threads: 2 });
    const stopping = await runExported(graph, weights, x, 4, {}, { threads: 2, stopSpinning: true });
    expect(Array.from(stopping)).toEqual(Array.from(plain));
  });
});
