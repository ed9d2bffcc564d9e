/**
 * The page in headless Chromium (Debian's, through playwright-core), served by `sofar serve`: it loads
 * the bundled model, classifies the first 10 Fashion-MNIST test images exactly as `sofar run --runtime
 * sofar` does in Node, feeds an uploaded image as training normalises it, takes `sofar train`'s
 * model.onnx (converted on load), and shows an error — not a blank page — for a file it cannot run. Served with COOP/COEP, the page is
 * cross-origin isolated and runs the threaded kernels with Web Workers: its logits equal the
 * single-threaded module's in Node bit for bit.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportOnnx } from '../../backends/onnx/index.js';
import { loadRuntime } from '../../backends/runtime/web.js';
import { launchChromium } from '../../bench/web.js';
import { compileFile } from '../../src/compile.js';
import { encodeNpy } from '../../src/io/npy.js';
import { initWeights } from '../../src/weights/init.js';
import { skipWithout } from '../helpers/requirements.js';
import { trainedLikeExport, withoutGraphRecord } from '../helpers/trained-export.js';
import { maxRelativeError } from '../runtime/util.js';
import { chromiumMissing, fashionMissing, fashionTest, MODEL, startServe, wasmBytes, wasmMissing } from './helpers.js';

/** What web/app.ts puts on the window for tests. */
type PageWindow = { sofarPage: { ready: Promise<void>; classify(values: number[]): number[]; lastInput(): number[] | null; info(): { classNames: string[] } | null } };

const missing = [chromiumMissing(), fashionMissing(), wasmMissing()].find((m) => m !== null) ?? null;

describe.skipIf(skipWithout(missing))('the page in headless Chromium', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sofar-page-'));
  const errors: string[] = [];
  let server: Awaited<ReturnType<typeof startServe>>;
  let browser: Browser;
  let page: Page;
  // Read in beforeAll, not here: describe bodies run when the file is collected, even where it skips.
  let test: ReturnType<typeof fashionTest>;

  const state = () => page.locator('body').getAttribute('data-state');
  const topNames = () => page.locator('#top li .name').allTextContents();

  beforeAll(async () => {
    expect(existsSync('dist/web/index.html'), 'the page is built by npm run build').toBe(true);
    test = fashionTest(10);
    server = await startServe();
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.waitForFunction(() => 'sofarPage' in globalThis);
    await page.evaluate(() => (globalThis as unknown as PageWindow).sofarPage.ready);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads the bundled model and shows its summary, the top classes and the latency', async () => {
    expect(await state()).toBe('ready');
    const summary = await page.locator('#summary').innerText();
    expect(summary).toMatch(/fashion_bireal_small/);
    expect(summary).toMatch(/309,418 \(294,912 1-bit, 14,506 32-bit\)/);
    expect(summary).toMatch(/92\.7 KiB/);
    expect(summary).toMatch(/3\.61e7 1-bit, 1\.03e6 32-bit/);
    expect(summary).toMatch(/1\.59e6/);
    // served by sofar serve (COOP/COEP): cross-origin isolated, so the threaded kernels with Web Workers
    expect(summary).toMatch(/wasm \(simd128, threads\), [2-9]\d* threads; .*; cross-origin isolated/);
    // The model's own normalisation record, not a guess from its input shape.
    expect(summary).toMatch(/pixels\s+÷ 255, then \(x − 0\.286\) \/ 0\.353 as in training \(recorded in the model\)/);
    expect(await page.locator('#samples .sample').count()).toBe(10);
    // Nothing is classified before there is an image: the blank pad is none.
    expect(await page.locator('#top li').count()).toBe(0);
    expect(await page.locator('#latency').innerText()).toBe('');
    await page.locator('#samples .sample').first().click();
    await expect.poll(() => page.locator('#top li').count()).toBe(5);
    // The latency line names the threads the runtime runs on, as the summary does.
    const threads = /, (\d+) threads?;/.exec(summary)![1];
    expect(await page.locator('#latency').innerText()).toMatch(new RegExp(`^latency \\d+\\.\\d+ ms \\(median of 25 runs, batch 1, wasm \\(simd128, threads\\), ${threads} threads\\)`));
    expect(errors).toEqual([]);
  });

  it('classifies the first 10 test images exactly as sofar run --runtime sofar does', async () => {
    const npy = join(dir, 'x.npy');
    writeFileSync(npy, encodeNpy([10, 1, 28, 28], test.x));
    const run = spawnSync(process.execPath, ['dist/cli/main.js', 'run', MODEL, '--runtime', 'sofar', '--input', npy, '--json'], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const expected = (JSON.parse(run.stdout) as { output: number[][] }).output;
    const argmax = (v: number[]) => v.indexOf(Math.max(...v));
    const oneThread = await loadRuntime(new Uint8Array(readFileSync(MODEL)), { wasm: wasmBytes() });
    let correct = 0;
    for (let i = 0; i < 10; i++) {
      const values = Array.from(test.x.subarray(i * 784, (i + 1) * 784));
      const logits = await page.evaluate((v) => (globalThis as unknown as PageWindow).sofarPage.classify(v), values);
      expect(argmax(logits), `image ${i}`).toBe(argmax(expected[i]));
      expect(maxRelativeError(Float32Array.from(logits), Float32Array.from(expected[i])), `image ${i}`).toBeLessThan(1e-4);
      expect(logits, `image ${i}: threaded in Chromium = one thread in Node`).toEqual(Array.from(oneThread.run(Float32Array.from(values), 1)));
      correct += Number(argmax(logits) === test.labels[i]);
      const classNames = (await page.evaluate(() => (globalThis as unknown as PageWindow).sofarPage.info()))!.classNames;
      expect((await topNames())[0]).toBe(classNames[argmax(expected[i])]);
    }
    oneThread.release();
    expect(correct, 'the bundled model is trained').toBeGreaterThanOrEqual(8);
  });

  it('feeds an uploaded PNG and a test image as training normalises them', async () => {
    const png = new PNG({ width: 28, height: 28 });
    for (let p = 0; p < 784; p++) png.data.set([test.bytes[p], test.bytes[p], test.bytes[p], 255], 4 * p);
    writeFileSync(join(dir, 'boot.png'), PNG.sync.write(png));
    await page.locator('#image-file').setInputFiles(join(dir, 'boot.png'));
    await expect.poll(() => page.evaluate(() => (globalThis as unknown as PageWindow).sofarPage.lastInput())).toEqual(Array.from(test.x.subarray(0, 784)));
    expect((await topNames())[0]).toBe('Ankle boot');
    // The first sample thumbnail is test image 19, a T-shirt/top; the page shows its pixels unchanged.
    await page.locator('#samples .sample').first().click();
    const tshirt = fashionTestImage(19);
    await expect.poll(() => page.evaluate(() => (globalThis as unknown as PageWindow).sofarPage.lastInput())).toEqual(Array.from(tshirt));
    expect(await state()).toBe('ready');
  });

  it('classifies a drawing', async () => {
    await page.locator('#clear').click();
    const box = (await page.locator('#pad').boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.15);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.85, { steps: 8 });
    await page.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.85, { steps: 8 });
    await page.mouse.up();
    const input = (await page.evaluate(() => (globalThis as unknown as PageWindow).sofarPage.lastInput()))!;
    expect(new Set(input).size).toBeGreaterThan(2);
    expect(await page.locator('#top li').count()).toBe(5);
    expect(errors).toEqual([]);
  });

  it('shows an error for a file that is not a SoFAr --binary-ops model, then recovers', async () => {
    await page.locator('#model-file').setInputFiles({ name: 'notes.onnx', mimeType: 'application/octet-stream', buffer: Buffer.from('these are notes, not a model') });
    await expect.poll(state).toBe('error');
    expect(await page.locator('#error').isVisible()).toBe(true);
    expect(await page.locator('#error').innerText()).toMatch(/^notes\.onnx: not a model SoFAr's runtime can run: not a readable ONNX model/);
    expect(await page.locator('#summary tr').count()).toBe(0);

    // A standard export from before they recorded their graph: the runtime cannot convert it.
    const graph = compileFile('specs/fashion/bireal-small.sofar').graph!;
    await page.locator('#model-file').setInputFiles({ name: 'standard.onnx', mimeType: 'application/octet-stream', buffer: Buffer.from(withoutGraphRecord(exportOnnx(graph, initWeights(graph, 0)))) });
    await expect.poll(() => page.locator('#error').innerText()).toMatch(/^standard\.onnx: this is SoFAr's 'float' export of fashion_bireal_small.*sofar convert MODEL\.onnx --binary-ops.*--weights RUN/);

    await page.locator('#bundled').click();
    await expect.poll(state).toBe('ready');
    expect(await page.locator('#error').isVisible()).toBe(false);
    expect(await page.locator('#top li').count()).toBe(5);
    expect(errors).toEqual([]);
  });

  it("takes sofar train's model.onnx, converting it on load: the logits of the same file in Node", async () => {
    const graph = compileFile('specs/fashion/bireal-small.sofar').graph!;
    const bytes = trainedLikeExport(graph, 7);
    await page.locator('#model-file').setInputFiles({ name: 'model.onnx', mimeType: 'application/octet-stream', buffer: Buffer.from(bytes) });
    await expect.poll(state).toBe('ready');
    expect(await page.locator('#summary').innerText()).toMatch(/form\s+converted on load from SoFAr's 'float' standard export to the --binary-ops form \(weights kept\)/);
    const inNode = await loadRuntime(bytes, { wasm: wasmBytes() });
    const values = Array.from(fashionTestImage(3));
    const logits = await page.evaluate((v) => (globalThis as unknown as PageWindow).sofarPage.classify(v), values);
    expect(logits).toEqual(Array.from(inNode.run(Float32Array.from(values), 1)));
    inNode.release();
    await page.locator('#bundled').click();
    await expect.poll(state).toBe('ready');
    expect(errors).toEqual([]);
  });
});

/** Test image `index`, normalised. */
function fashionTestImage(index: number): Float32Array {
  return fashionTest(index + 1).x.subarray(index * 784);
}
