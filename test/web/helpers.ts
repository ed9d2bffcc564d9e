/** Shared pieces of the browser tests: the WebAssembly kernels, Chromium, the data, and `sofar serve`. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHROMIUM } from '../../bench/web.js';
import { readIdxSplit } from '../../src/data/idx.js';
import { NORMALISATION, normaliseImages } from '../../src/data/normalise.js';

export const WASM = 'native/wasm/sofar_kernels.wasm';
export const MODEL = 'web/models/bireal-small.onnx';
export const FASHION = '/usr/share/datasets/fashion-mnist';

export const wasmMissing = () => (existsSync(WASM) ? null : `${WASM} (the WebAssembly kernels) is not built`);
export const chromiumMissing = () => (existsSync(CHROMIUM) ? null : `Chromium at ${CHROMIUM} (apt-get install chromium)`);
export const fashionMissing = () => (existsSync(join(FASHION, 't10k-images-idx3-ubyte.gz')) ? null : `Fashion-MNIST at ${FASHION} (apt-get install dataset-fashion-mnist)`);

export const wasmBytes = () => new Uint8Array(readFileSync(WASM));

/** The first `count` Fashion-MNIST test images: bytes, labels, and normalised as `sofar train` does. */
export function fashionTest(count: number): { bytes: Uint8Array; labels: number[]; x: Float32Array } {
  const split = readIdxSplit(join(FASHION, 't10k-images-idx3-ubyte.gz'), join(FASHION, 't10k-labels-idx1-ubyte.gz'));
  const bytes = split.images.slice(0, count * 784);
  return { bytes, labels: [...split.labels.slice(0, count)], x: normaliseImages(bytes, count, [1, 28, 28], NORMALISATION['fashion-mnist']) };
}

/** `sofar serve DIR --port 0` as a child process, with the URL it prints. */
export async function startServe(args: string[] = []): Promise<{ url: string; child: ChildProcess; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, ['dist/cli/main.js', 'serve', ...args, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sofar serve did not start: ${output}`)), 20_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /at (http:\/\/\S+\/) /.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    child.once('exit', (code) => reject(new Error(`sofar serve exited (${code}): ${output}`)));
  });
  const stop = () =>
    new Promise<number | null>((resolve) => {
      if (child.exitCode !== null) return resolve(child.exitCode);
      child.once('exit', (code) => resolve(code));
      child.kill('SIGTERM');
    });
  return { url, child, stop };
}
