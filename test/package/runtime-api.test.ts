/**
 * The runtime's API as an app uses it (issue 24, items 4–8): runs compute what was asked for, a
 * released runtime refuses to run, threaded WebAssembly workers never keep Node alive, both entry points
 * take an ArrayBuffer and report bad options as option errors, class helpers work per row and from the
 * Node entry too, and an async run in a worker gives the synchronous run's logits.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as node from '../../backends/runtime/index.js';
import * as web from '../../backends/runtime/web.js';
import { seededInput } from '../../src/weights/init.js';
import { skipWithout } from '../helpers/requirements.js';
import { nativeKernels, skipNative } from '../runtime/helpers.js';
import { MODEL, wasmBytes, wasmMissing } from '../web/helpers.js';

const bytes = new Uint8Array(readFileSync(MODEL));
const input = { input: [1, 28, 28] };
const batch = (n: number) => seededInput(input as never, n, 3);
const distMissing = () => (existsSync('dist/backends/runtime/worker.js') ? null : 'dist/ (npm run build)');

/** Runs an ES module script with Node from the repository root; its exit code, output and time. */
function node20(script: string, env: Record<string, string> = {}) {
  const start = performance.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...env } });
  return { status: r.status, signal: r.signal, out: `${r.stdout}${r.stderr}`, ms: performance.now() - start };
}

describe.skipIf(skipNative())('runs what was asked for (item 4)', () => {
  it('a small run after a large one, or below the batch option, plans for its own size', () => {
    const runtime = node.createRuntime(bytes, { kernels: nativeKernels(), batch: 64 });
    const x = batch(100);
    const one = runtime.run(x.subarray(0, 784), 1);
    expect(runtime.plan.batch).toBe(1);
    const all = runtime.run(x, 100);
    expect(runtime.plan.batch).toBe(100);
    expect(runtime.run(x.subarray(0, 784), 1)).toEqual(one);
    expect(runtime.plan.batch).toBe(1);
    expect(all.subarray(0, 10)).toEqual(one);
    runtime.release();
  });
});

describe.skipIf(skipWithout(wasmMissing()))('a released runtime (item 5)', () => {
  it('refuses to run, with a typed error', async () => {
    const runtime = node.createRuntime(bytes, { kernels: await node.loadWasmKernels(wasmBytes()) });
    runtime.run(batch(1), 1);
    runtime.release();
    expect(runtime.released).toBe(true);
    expect(() => runtime.run(batch(1), 1)).toThrow(node.RuntimeReleasedError);
    expect(() => runtime.profile(1)).toThrow(/released/);
    runtime.release(); // twice is fine
  });

  it('never runs the model of a runtime that took over its WebAssembly kernels', async () => {
    const kernels = await node.loadWasmKernels(wasmBytes());
    const first = node.createRuntime(bytes, { kernels });
    first.release();
    const second = node.createRuntime(bytes, { kernels });
    expect(() => first.run(batch(1), 1)).toThrow(node.RuntimeReleasedError);
    expect(second.run(batch(1), 1)).toHaveLength(10);
    second.release();
  });
});

describe.skipIf(skipWithout(wasmMissing() ?? distMissing()))('threaded WebAssembly workers (item 6)', () => {
  it('let Node exit after release, without kernels.close()', () => {
    const r = node20(`
      import { readFileSync } from 'node:fs';
      const m = await import('${process.cwd()}/dist/backends/runtime/index.js');
      const kernels = await m.loadBundledWasmKernels(2);
      const rt = m.createRuntime(readFileSync('${MODEL}'), { kernels, threads: 2 });
      rt.run(new Float32Array(784), 1);
      rt.release();
      console.log('ran on', kernels.threads(), 'threads');`);
    expect(r.signal, r.out).toBeNull();
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/ran on 2 threads/);
  });
});

describe.skipIf(skipWithout(wasmMissing()))('errors (item 7)', () => {
  const arrayBuffer = () => bytes.slice().buffer;

  it('both entry points take an ArrayBuffer', async () => {
    const fromBuffer = node.createRuntime(arrayBuffer(), { kernels: await node.loadWasmKernels(wasmBytes()) });
    const fromWeb = await web.loadRuntime(arrayBuffer(), { wasm: wasmBytes() });
    const x = batch(1);
    expect(fromBuffer.run(x, 1)).toEqual(fromWeb.run(x, 1));
    fromBuffer.release();
    fromWeb.release();
  });

  it('bad options are option errors that name the option, in both entry points', async () => {
    const kernels = await node.loadWasmKernels(wasmBytes());
    for (const [options, name] of [[{ threads: 0 }, 'threads'], [{ batch: -1 }, 'batch'], [{ batch: 1.5 }, 'batch']] as const) {
      const sync = () => node.createRuntime(bytes, { kernels, ...options });
      expect(sync).toThrow(node.RuntimeOptionError);
      expect(sync).toThrow(new RegExp(`^option ${name} must be an integer`));
      await expect(web.loadRuntime(bytes, { wasm: wasmBytes(), ...options })).rejects.toThrow(web.RuntimeOptionError);
    }
    expect(() => node.createRuntime('model.onnx' as never, { kernels })).toThrow(node.RuntimeOptionError);
  });

  it('every doc a hint names ships in the package', () => {
    const files = (JSON.parse(readFileSync('package.json', 'utf8')) as { files: string[] }).files;
    const sources = ['backends/runtime/index.ts', 'backends/runtime/web.ts', 'backends/runtime/model.ts', 'cli/binary-runtime.ts'];
    const named = new Set(sources.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/docs\/[\w-]+\.md/g)].map((m) => m[0])));
    expect(named.size).toBeGreaterThan(0);
    // An entry is a path or a folder's `*.md` glob (`docs/*.md`).
    const ships = (doc: string) => files.some((f) => f === doc || (f.endsWith('/*.md') && doc.startsWith(f.slice(0, -'*.md'.length)) && !doc.slice(f.length - '*.md'.length).includes('/')));
    for (const doc of named) expect(ships(doc), doc).toBe(true);
  });

  it('topClasses takes one row; topClassesOfRows each row of a batch', () => {
    const names = web.FASHION_MNIST_CLASSES;
    const rows = Float32Array.from({ length: 20 }, (_, i) => (i === 3 ? 5 : i === 17 ? 4 : 0));
    expect(() => web.topClasses(rows, names, 1)).toThrow(/a batch of 2 samples: rank them with topClassesOfRows/);
    const top = web.topClassesOfRows(rows, names, 1);
    expect(top.map((r) => r[0].name)).toEqual(['Dress', 'Sneaker']);
    expect(top[1]).toEqual(web.topClasses(rows.subarray(10), names, 1));
  });
});

describe('the Node entry (item 8)', () => {
  it('has modelInfo, imageToInput and topClasses, the same as sofar/web', () => {
    expect(node.modelInfo).toBe(web.modelInfo);
    expect(node.imageToInput).toBe(web.imageToInput);
    expect(node.topClasses).toBe(web.topClasses);
    expect(node.topClassesOfRows).toBe(web.topClassesOfRows);
  });

  it.skipIf(skipNative() || skipWithout(distMissing()))('runs asynchronously in a worker, with the synchronous logits, and lets Node exit', () => {
    const r = node20(`
      import { readFileSync } from 'node:fs';
      const m = await import('${process.cwd()}/dist/backends/runtime/index.js');
      const model = readFileSync('${MODEL}');
      const x = Float32Array.from({ length: 32 * 784 }, (_, i) => Math.sin(i));
      const sync = m.createRuntime(model).run(x, 32);
      const rt = await m.createRuntimeInWorker(model.buffer.slice(model.byteOffset, model.byteOffset + model.byteLength), { threads: 2 });
      let ticks = 0;
      const timer = setInterval(() => ticks++, 0);
      const pending = rt.run(x, 32);
      const [a, b] = await Promise.all([pending, rt.run(x.subarray(0, 784), 1)]);
      clearInterval(timer);
      console.log(JSON.stringify({ same: a.every((v, i) => v === sync[i]), first: b.every((v, i) => v === sync[i]), kernels: rt.kernels, ticks }));
      await rt.release();
      await rt.run(x, 32).catch((e) => console.log(e.name));
      // no release here on purpose for a second one: an idle worker must not keep Node alive
      const idle = await m.createRuntimeInWorker(model);
      await idle.run(x.subarray(0, 784), 1);`);
    expect(r.status, r.out).toBe(0);
    const line = JSON.parse(r.out.split('\n')[0]) as { same: boolean; first: boolean; kernels: string; ticks: number };
    expect(line).toMatchObject({ same: true, first: true });
    expect(line.ticks, 'the event loop ran while the worker computed').toBeGreaterThan(0);
    expect(line.kernels).toMatch(/^native/);
    expect(r.out).toMatch(/RuntimeReleasedError/);
  });

  it.skipIf(skipWithout(wasmMissing() ?? distMissing()))('falls back to the WebAssembly kernels, with a warning, where no native addon loads', () => {
    const r = node20(`
      const m = await import('${process.cwd()}/dist/backends/runtime/index.js');
      const rt = m.createRuntime((await import('node:fs')).readFileSync('${MODEL}'));
      console.log('kernels:', rt.kernels, rt.run(new Float32Array(784), 1).length);`, { SOFAR_NATIVE: 'off' });
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/kernels: wasm \(simd128\) 10/);
    expect(r.out).toMatch(/SOFAR_WASM_FALLBACK|WebAssembly kernels instead/);
  });
});
