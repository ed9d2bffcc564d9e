/**
 * The worker of `createRuntimeInWorker` (worker-client.ts): one runtime, its runs answered in order.
 * Errors go back by name and message (worker-client.ts revives the typed ones).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createRuntime, loadBundledWasmKernels, type BinaryRuntime } from './index.js';
import type { WorkerInit, WorkerReply } from './worker-client.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const reply = (m: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
const failure = (e: unknown) => ({ name: (e as Error).name ?? 'Error', message: (e as Error).message ?? String(e) });

let runtime: BinaryRuntime;
try {
  const kernels = init.kernels === 'wasm' ? await loadBundledWasmKernels(init.threads) : undefined;
  runtime = createRuntime(init.bytes, { threads: init.threads, batch: init.batch, ...(kernels ? { kernels } : {}) });
  reply({ id: 0, kernels: runtime.kernels });
} catch (e) {
  reply({ id: 0, error: failure(e) });
  throw e;
}

port.on('message', ({ id, x, n }: { id: number; x: Float32Array; n: number }) => {
  try {
    const y = runtime.run(x, n);
    reply({ id, y }, [y.buffer as ArrayBuffer]);
  } catch (e) {
    reply({ id, error: failure(e) });
  }
});
