/**
 * Choosing the TensorFlow.js package, with stand-ins for the module lookup and the WebGPU adapter
 * search: the native packages cannot be installed here (their install downloads libtensorflow) and the
 * only adapter is Mesa's software one, so each case says which packages and which adapter "exist".
 */
import { describe, expect, it } from 'vitest';
import * as tfjs from '@tensorflow/tfjs';
import { importModule, selectTfjs, TFJS_PACKAGES, type ModuleResolver } from '../../backends/tfjs/device.js';
import type { AdapterFinder, WebGpuProbe } from '../../backends/webgpu/adapter.js';
import { describeAdapterInfo } from '../../backends/webgpu/adapter.js';
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

/** Adapter searches that find nothing, only Mesa's llvmpipe, or a hardware GPU (with stand-in objects). */
const noAdapter: AdapterFinder = async () => ({ failure: 'Dawn found no WebGPU adapter' });
const llvmpipe = describeAdapterInfo({ vendor: 'mesa', architecture: 'software', device: 'llvmpipe', description: 'llvmpipe: Mesa 25.0.7', isFallbackAdapter: true });
const softwareOnly: AdapterFinder = async () => ({ adapter: llvmpipe });
const hardware: WebGpuProbe = {
  adapter: describeAdapterInfo({ vendor: 'nvidia', architecture: 'ampere', device: 'NVIDIA A100', description: 'NVIDIA A100 (Vulkan)' }),
  gpu: { stand: 'in' },
  globals: {},
};
const hardwareGpu: AdapterFinder = async () => hardware;

describe('selectTfjs', () => {
  it('auto prefers tfjs-node-gpu when it is installed', async () => {
    const started: string[] = [];
    const { resolve, asked } = lookup({ [TFJS_PACKAGES.gpu]: fakeTf('gpu', started), [TFJS_PACKAGES.node]: fakeTf('node', started) });
    const s = await selectTfjs({ device: 'auto', resolve, findAdapter: noAdapter });
    expect(s).toMatchObject({ device: 'gpu', backendName: 'tensorflow', package: TFJS_PACKAGES.gpu });
    expect((s.tf as unknown as { label: string }).label).toBe('gpu');
    expect(s.warning).toBeUndefined();
    expect(started).toEqual(['gpu:tensorflow']);
    expect(asked).toEqual([TFJS_PACKAGES.gpu]);
  });

  it('auto falls back to tfjs-node when only it is installed', async () => {
    const started: string[] = [];
    const { resolve, asked } = lookup({ [TFJS_PACKAGES.node]: fakeTf('node', started), [TFJS_PACKAGES.js]: fakeTf('js', started) });
    const s = await selectTfjs({ device: 'auto', resolve, findAdapter: noAdapter });
    expect(s).toMatchObject({ device: 'cpu', backendName: 'tensorflow', package: TFJS_PACKAGES.node });
    expect(s.warning).toBeUndefined();
    expect(started).toEqual(['node:tensorflow']);
    expect(asked).toEqual([TFJS_PACKAGES.gpu, TFJS_PACKAGES.node]);
  });

  it('auto uses pure-JS tfjs with a warning when neither native package is installed', async () => {
    const started: string[] = [];
    const { resolve } = lookup({ [TFJS_PACKAGES.js]: fakeTf('js', started) });
    const s = await selectTfjs({ device: 'auto', resolve, findAdapter: noAdapter });
    expect(s).toMatchObject({ device: 'cpu', backendName: 'cpu', package: TFJS_PACKAGES.js });
    expect(s.warning).toMatch(/slow/);
    expect(s.warning).toMatch(/@tensorflow\/tfjs-node/);
    expect(started).toEqual(['js:cpu']);
  });

  it('gpu requested but tfjs-node-gpu missing is a clear error with set-up hints', async () => {
    const { resolve } = lookup({ [TFJS_PACKAGES.node]: fakeTf('node', []), [TFJS_PACKAGES.js]: fakeTf('js', []) });
    const failure = await selectTfjs({ device: 'gpu', resolve, findAdapter: noAdapter }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(SofarError);
    const d = (failure as SofarError).diagnostics[0];
    expect(d.message).toMatch(/--device gpu: no GPU: Dawn found no WebGPU adapter; and @tensorflow\/tfjs-node-gpu \(CUDA\) is not installed/);
    expect(d.hint).toMatch(/Vulkan/);
    expect(d.hint).toMatch(/tfjs-node-gpu/);
  });

  it('auto takes tfjs-node-gpu over a hardware WebGPU adapter', async () => {
    const started: string[] = [];
    const { resolve } = lookup({ [TFJS_PACKAGES.gpu]: fakeTf('gpu', started), [TFJS_PACKAGES.js]: fakeTf('js', started) });
    const s = await selectTfjs({ device: 'auto', resolve, findAdapter: hardwareGpu });
    expect(s).toMatchObject({ device: 'gpu', package: TFJS_PACKAGES.gpu });
    expect(started).toEqual(['gpu:tensorflow']);
  });

  it('auto takes a hardware WebGPU adapter when tfjs-node-gpu is missing', async () => {
    const started: string[] = [];
    const { resolve, asked } = lookup({ [TFJS_PACKAGES.webgpu]: {}, [TFJS_PACKAGES.node]: fakeTf('node', started), [TFJS_PACKAGES.js]: fakeTf('js', started) });
    const s = await selectTfjs({ device: 'auto', resolve, findAdapter: hardwareGpu });
    expect(s).toMatchObject({ device: 'webgpu', backendName: 'webgpu', package: TFJS_PACKAGES.webgpu });
    expect(s.adapter?.software).toBe(false);
    expect(started).toEqual(['js:webgpu']);
    expect(asked).toContain(TFJS_PACKAGES.webgpu);
    expect(asked).not.toContain(TFJS_PACKAGES.node);
  });

  it('auto passes over a software adapter and says so; --device webgpu takes it', async () => {
    const started: string[] = [];
    const { resolve } = lookup({ [TFJS_PACKAGES.node]: fakeTf('node', started), [TFJS_PACKAGES.js]: fakeTf('js', started) });
    const s = await selectTfjs({ device: 'auto', resolve, findAdapter: softwareOnly });
    expect(s.package).toBe(TFJS_PACKAGES.node);
    expect(s.warning).toMatch(/only WebGPU adapter is a software rasteriser \(llvmpipe: Mesa 25\.0\.7, software\)/);
    const failure = await selectTfjs({ device: 'gpu', resolve, findAdapter: softwareOnly }).catch((e: unknown) => e);
    expect((failure as SofarError).diagnostics[0].message).toMatch(/--device gpu: the only WebGPU adapter is a software rasteriser .*; and @tensorflow\/tfjs-node-gpu \(CUDA\) is not installed/);
    expect((failure as SofarError).diagnostics[0].hint).toMatch(/--device webgpu/);
  });

  it('webgpu without an adapter is a clear error naming the driver it needs', async () => {
    const { resolve } = lookup({ [TFJS_PACKAGES.js]: fakeTf('js', []) });
    const failure = await selectTfjs({ device: 'webgpu', resolve, findAdapter: noAdapter }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(SofarError);
    const d = (failure as SofarError).diagnostics[0];
    expect(d.message).toBe('--device webgpu: no WebGPU adapter: Dawn found no WebGPU adapter');
    expect(d.hint).toMatch(/Vulkan .*mesa-vulkan-drivers.*--device cpu/);
  });

  it('gpu requested and tfjs-node-gpu installed but broken reports why', async () => {
    const { resolve } = lookup({}, { [TFJS_PACKAGES.gpu]: 'libcudart.so.11.0: cannot open shared object file' });
    const failure = await selectTfjs({ device: 'gpu', resolve, findAdapter: noAdapter }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(SofarError);
    expect((failure as SofarError).diagnostics[0].message).toMatch(/installed but failed to load: libcudart/);
  });

  it('auto goes on past a broken tfjs-node-gpu and says so', async () => {
    const started: string[] = [];
    const { resolve } = lookup({ [TFJS_PACKAGES.node]: fakeTf('node', started) }, { [TFJS_PACKAGES.gpu]: 'no CUDA driver' });
    const s = await selectTfjs({ device: 'auto', resolve, findAdapter: noAdapter });
    expect(s.package).toBe(TFJS_PACKAGES.node);
    expect(s.warning).toMatch(/tfjs-node-gpu is installed but failed to load: no CUDA driver/);
  });

  it('cpu never uses the GPU package, even when it is installed', async () => {
    const started: string[] = [];
    const both = lookup({ [TFJS_PACKAGES.gpu]: fakeTf('gpu', started), [TFJS_PACKAGES.node]: fakeTf('node', started) });
    const never: AdapterFinder = async () => {
      throw new Error('cpu must not look for an adapter');
    };
    expect((await selectTfjs({ device: 'cpu', resolve: both.resolve, findAdapter: never })).package).toBe(TFJS_PACKAGES.node);
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
    await expect(selectTfjs({ device: 'gpu', resolve, findAdapter: noAdapter })).rejects.toThrow(/could not start its 'tensorflow' backend/);
  });

  it('the default lookup finds installed packages and reports missing ones as undefined', async () => {
    expect(await importModule('sofar-test-no-such-package')).toBeUndefined();
    const tf = (await importModule(TFJS_PACKAGES.js)) as typeof tfjs;
    expect(typeof tf.tensor).toBe('function');
  });

  it('with the real lookup, a plain install runs (pure JS here, where the native packages are absent)', async () => {
    const s = await selectTfjs({ device: 'cpu' });
    const installed = async (name: string) => (await importModule(name).catch(() => undefined)) !== undefined;
    const expected = (await installed(TFJS_PACKAGES.node)) ? TFJS_PACKAGES.node : TFJS_PACKAGES.js;
    expect(s.package).toBe(expected);
    expect(s.tf.getBackend()).toBe(s.backendName);
  });
});
