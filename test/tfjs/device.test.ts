/**
 * Choosing the TensorFlow.js package, with stand-ins for the module lookup: the native packages cannot
 * be installed here (their install downloads libtensorflow), so each case says which ones "exist".
 */
import { describe, expect, it } from 'vitest';
import * as tfjs from '@tensorflow/tfjs';
import { importModule, selectTfjs, TFJS_PACKAGES, type ModuleResolver } from '../../backends/tfjs/device.js';
import { SofarError } from '../../src/diagnostics.js';

/** A stand-in tfjs module that records which backend it was asked to start. */
function fakeTf(label: string, started: string[], ok = true) {
  return {
    ...tfjs,
    label,
    setBackend: async (name: string) => {
      started.push(`${label}:${name}`);
      return ok;
    },
    ready: async () => {},
    env: () => ({ set: () => {} }),
  };
}

/** A lookup where `present` packages resolve to stand-ins, `broken` ones throw, the rest are missing. */
function lookup(present: Record<string, unknown>, broken: Record<string, string> = {}) {
  const asked: string[] = [];
  const resolve: ModuleResolver = async (name) => {
    asked.push(name);
    if (name in broken) throw new Error(broken[name]);
    return present[name];
  };
  return { resolve, asked };
}

describe('selectTfjs', () => {
  it('auto prefers tfjs-node-gpu when it is installed', async () => {
    const started: string[] = [];
    const { resolve, asked } = lookup({ [TFJS_PACKAGES.gpu]: fakeTf('gpu', started), [TFJS_PACKAGES.node]: fakeTf('node', started) });
    const s = await selectTfjs({ device: 'auto', resolve });
    expect(s).toMatchObject({ device: 'gpu', backendName: 'tensorflow', package: TFJS_PACKAGES.gpu });
    expect((s.tf as unknown as { label: string }).label).toBe('gpu');
    expect(s.warning).toBeUndefined();
    expect(started).toEqual(['gpu:tensorflow']);
    expect(asked).toEqual([TFJS_PACKAGES.gpu]);
  });

  it('auto falls back to tfjs-node when only it is installed', async () => {
    const started: string[] = [];
    const { resolve, asked } = lookup({ [TFJS_PACKAGES.node]: fakeTf('node', started), [TFJS_PACKAGES.js]: fakeTf('js', started) });
    const s = await selectTfjs({ device: 'auto', resolve });
    expect(s).toMatchObject({ device: 'cpu', backendName: 'tensorflow', package: TFJS_PACKAGES.node });
    expect(s.warning).toBeUndefined();
    expect(started).toEqual(['node:tensorflow']);
    expect(asked).toEqual([TFJS_PACKAGES.gpu, TFJS_PACKAGES.node]);
  });

  it('auto uses pure-JS tfjs with a warning when neither native package is installed', async () => {
    const started: string[] = [];
    const { resolve } = lookup({ [TFJS_PACKAGES.js]: fakeTf('js', started) });
    const s = await selectTfjs({ device: 'auto', resolve });
    expect(s).toMatchObject({ device: 'cpu', backendName: 'cpu', package: TFJS_PACKAGES.js });
    expect(s.warning).toMatch(/slow/);
    expect(s.warning).toMatch(/@tensorflow\/tfjs-node/);
    expect(started).toEqual(['js:cpu']);
  });

  it('gpu requested but tfjs-node-gpu missing is a clear error with set-up hints', async () => {
    const { resolve } = lookup({ [TFJS_PACKAGES.node]: fakeTf('node', []), [TFJS_PACKAGES.js]: fakeTf('js', []) });
    const failure = await selectTfjs({ device: 'gpu', resolve }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(SofarError);
    const d = (failure as SofarError).diagnostics[0];
    expect(d.message).toMatch(/a GPU \(device 'gpu', --device gpu on the command line\) needs @tensorflow\/tfjs-node-gpu, which is not installed/);
    expect(d.hint).toMatch(/CUDA 11\.2/);
    expect(d.hint).toMatch(/cuDNN 8\.1/);
  });

  it('gpu requested and tfjs-node-gpu installed but broken reports why', async () => {
    const { resolve } = lookup({}, { [TFJS_PACKAGES.gpu]: 'libcudart.so.11.0: cannot open shared object file' });
    const failure = await selectTfjs({ device: 'gpu', resolve }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(SofarError);
    expect((failure as SofarError).diagnostics[0].message).toMatch(/installed but failed to load: libcudart/);
  });

  it('auto goes on past a broken tfjs-node-gpu and says so', async () => {
    const started: string[] = [];
    const { resolve } = lookup({ [TFJS_PACKAGES.node]: fakeTf('node', started) }, { [TFJS_PACKAGES.gpu]: 'no CUDA driver' });
    const s = await selectTfjs({ device: 'auto', resolve });
    expect(s.package).toBe(TFJS_PACKAGES.node);
    expect(s.warning).toMatch(/tfjs-node-gpu is installed but failed to load: no CUDA driver/);
  });

  it('cpu never uses the GPU package, even when it is installed', async () => {
    const started: string[] = [];
    const both = lookup({ [TFJS_PACKAGES.gpu]: fakeTf('gpu', started), [TFJS_PACKAGES.node]: fakeTf('node', started) });
    expect((await selectTfjs({ device: 'cpu', resolve: both.resolve })).package).toBe(TFJS_PACKAGES.node);
    expect(both.asked).not.toContain(TFJS_PACKAGES.gpu);
    const gpuOnly = lookup({ [TFJS_PACKAGES.gpu]: fakeTf('gpu', started), [TFJS_PACKAGES.js]: fakeTf('js', started) });
    const s = await selectTfjs({ device: 'cpu', resolve: gpuOnly.resolve });
    expect(s.package).toBe(TFJS_PACKAGES.js);
    expect(s.warning).toMatch(/slow/);
  });

  it('accepts a CommonJS module whose API sits under `default`', async () => {
    const started: string[] = [];
    const { resolve } = lookup({ [TFJS_PACKAGES.node]: { default: fakeTf('node', started) } });
    const s = await selectTfjs({ device: 'cpu', resolve });
    expect((s.tf as unknown as { label: string }).label).toBe('node');
  });

  it('a backend that will not start is an error, not a silent fallback', async () => {
    const { resolve } = lookup({ [TFJS_PACKAGES.gpu]: fakeTf('gpu', [], false) });
    await expect(selectTfjs({ device: 'gpu', resolve })).rejects.toThrow(/could not start its 'tensorflow' backend/);
  });

  it('the default lookup finds installed packages and reports missing ones as undefined', async () => {
    expect(await importModule('sofar-test-no-such-package')).toBeUndefined();
    const tf = (await importModule(TFJS_PACKAGES.js)) as typeof tfjs;
    expect(typeof tf.tensor).toBe('function');
  });

  it('with the real lookup, a plain install runs (pure JS here, where the native packages are absent)', async () => {
    const s = await selectTfjs({ device: 'auto' });
    const installed = async (name: string) => (await importModule(name).catch(() => undefined)) !== undefined;
    const expected = (await installed(TFJS_PACKAGES.gpu)) ? TFJS_PACKAGES.gpu : (await installed(TFJS_PACKAGES.node)) ? TFJS_PACKAGES.node : TFJS_PACKAGES.js;
    expect(s.package).toBe(expected);
    expect(s.tf.getBackend()).toBe(s.backendName);
  });
});
