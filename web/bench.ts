/**
 * The browser half of bench/web.ts (not part of the page): loads the contenders into one tab — SoFAr's
 * WebAssembly runtime and onnxruntime-web's WASM backend (1 thread, SIMD) — and times runs of each when
 * the benchmark asks, so that it can interleave rounds over CDP. bench/web.ts bundles this file.
 */
import { loadRuntime } from '../backends/runtime/web.js';
import type * as Ort from 'onnxruntime-web';
import { timedRuns } from '../bench/timed-runs.js';

export interface BenchContender {
  label: string;
  engine: 'sofar-wasm' | 'ort-web';
  /** The model's URL, relative to the page. */
  model: string;
}

export interface BenchConfig {
  wasm: string;
  /** onnxruntime-web's ESM build (ort.wasm.min.mjs), copied next to its .wasm. */
  ort: string;
  contenders: BenchContender[];
  input: number[];
  shape: number[];
}

export interface BenchPage {
  /** Loads every contender and runs each once; returns their outputs (to check they compute the same). */
  load(config: BenchConfig): Promise<{ outputs: Record<string, number[]>; ortVersion: string; crossOriginIsolated: boolean }>;
  /** Milliseconds of `runs` consecutive runs of one contender. */
  timeRuns(label: string, runs: number): Promise<number[]>;
}

declare global {
  interface Window {
    sofarBench: BenchPage;
  }
}

const runners = new Map<string, () => Promise<unknown>>();

window.sofarBench = {
  async load(config) {
    const ortUrl = new URL(config.ort, document.baseURI).href;
    const ort = (await import(/* @vite-ignore */ ortUrl)) as typeof Ort;
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.simd = true;
    ort.env.wasm.proxy = false;
    const x = Float32Array.from(config.input);
    const outputs: Record<string, number[]> = {};
    for (const c of config.contenders) {
      const bytes = await (await fetch(c.model)).arrayBuffer();
      if (c.engine === 'sofar-wasm') {
        const runtime = await loadRuntime(bytes, { wasm: new URL(config.wasm, document.baseURI) });
        runners.set(c.label, async () => runtime.run(x, 1));
      } else {
        const session = await ort.InferenceSession.create(new Uint8Array(bytes), { executionProviders: ['wasm'], graphOptimizationLevel: 'all', executionMode: 'sequential' });
        const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, [1, ...config.shape]) };
        runners.set(c.label, async () => (await session.run(feeds))[session.outputNames[0]].data);
      }
      outputs[c.label] = Array.from((await runners.get(c.label)!()) as Float32Array);
    }
    return { outputs, ortVersion: ort.env.versions.web ?? 'unknown', crossOriginIsolated: self.crossOriginIsolated };
  },

  async timeRuns(label, runs) {
    const run = runners.get(label);
    if (!run) throw new Error(`no contender ${label}`);
    return timedRuns(run, runs);
  },
};
