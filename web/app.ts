/**
 * The page: a model (the bundled one, or a .onnx file), an image (drawn, uploaded, or a Fashion-MNIST
 * test image), its top classes with the latency, and the model's summary. Everything runs in the page,
 * on `sofar/web` (backends/runtime/web.ts). Bundled by scripts/build-web.mjs into dist/web/app.js.
 */
import { compileKernels, imageToInput, loadRuntime, modelInfo, runtimeThreads, threadsAvailable, topClasses, type BinaryRuntime, type ClassScore, type CompiledKernels, type ModelInfo } from '../backends/runtime/web.js';

const KERNELS_URL = 'sofar_kernels.wasm';
const THREADED_KERNELS_URL = 'sofar_kernels_threads.wasm';
/** Threads where the page is cross-origin isolated: up to 4 (the bundled model is small), `?threads=N` to choose. */
const THREADS = Math.max(1, Math.min(16, Number(new URLSearchParams(location.search).get('threads')) || Math.min(4, navigator.hardwareConcurrency || 1)));
const BUNDLED_MODEL = 'models/bireal-small.onnx';
const SAMPLES = 'samples/fashion-mnist-test';
/** Runs timed after each finished image (the median is shown). */
const TIMED_RUNS = 25;
/** How the page names the data sets a model's normalisation comes from. */
const DATASET_TITLES: Record<string, string> = { 'fashion-mnist': 'Fashion-MNIST', mnist: 'MNIST', cifar10: 'CIFAR-10' };

interface Loaded {
  runtime: BinaryRuntime;
  info: ModelInfo;
  file: string;
  fileBytes: number;
  loadMs: number;
}

/** The image: the drawing pad (`drawn`: false while it is blank), or a picture (a sample or an upload). */
type Source = { kind: 'pad'; drawn: boolean } | { kind: 'bitmap'; bitmap: ImageBitmap };

/** For tests and the curious: classify raw model inputs, read back what the page fed the model. */
export interface PageHook {
  ready: Promise<void>;
  classify(values: number[]): number[];
  lastInput(): number[] | null;
  info(): ModelInfo | null;
}

declare global {
  interface Window {
    sofarPage: PageHook;
  }
}

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const pad = byId<HTMLCanvasElement>('pad');
const padCtx = pad.getContext('2d')!;
const seen = byId<HTMLCanvasElement>('seen');
const seenCtx = seen.getContext('2d', { willReadFrequently: true })!;
const bitmapOptions: ImageBitmapOptions = { colorSpaceConversion: 'none', premultiplyAlpha: 'none' };

let kernels: Promise<CompiledKernels> | null = null;
let model: Loaded | null = null;
let source: Source = { kind: 'pad', drawn: false };
let lastInput: Float32Array | null = null;

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

function setState(state: 'loading' | 'ready' | 'error'): void {
  document.body.dataset.state = state;
}

function showError(text: string | null): void {
  const box = byId('error');
  box.hidden = text === null;
  box.textContent = text ?? '';
  if (text !== null) setState('error');
}

/**
 * The kernels, compiled once for every model the page opens (each runtime gets its own instance): the
 * threaded build where the page is cross-origin isolated and more than one thread is wanted.
 */
function kernelsOnce(): Promise<CompiledKernels> {
  const url = THREADS > 1 && threadsAvailable() ? THREADED_KERNELS_URL : KERNELS_URL;
  kernels ??= compileKernels(new URL(url, document.baseURI)).catch((e: unknown) => {
    kernels = null;
    throw e;
  });
  return kernels;
}

async function fetchBytes(url: string): Promise<ArrayBuffer> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot fetch ${url}: HTTP ${response.status}`);
  return response.arrayBuffer();
}

async function openModel(file: string, read: () => Promise<ArrayBuffer>): Promise<void> {
  showError(null);
  setState('loading');
  model?.runtime.release();
  model = null;
  renderSummary();
  renderResult(null, 0, 0);
  let wasm: CompiledKernels;
  try {
    wasm = await kernelsOnce();
  } catch (e) {
    showError(`SoFAr's WebAssembly kernels did not load: ${message(e)}`);
    return;
  }
  try {
    const bytes = await read();
    const start = performance.now();
    const runtime = await loadRuntime(bytes, { wasm, wasmThreads: wasm, threads: THREADS });
    model = { runtime, info: recordedOnly(modelInfo(runtime.model)), file, fileBytes: bytes.byteLength, loadMs: performance.now() - start };
  } catch (e) {
    showError(`${file}: ${message(e)}`);
    return;
  }
  renderSummary();
  setState('ready');
  classifyImage(true);
}

/**
 * The model's own normalisation record, never a guess from its input shape: a model that records none
 * gets its pixels scaled to [0, 1] only, as `sofar run --input` feeds it, so both give the same classes.
 */
function recordedOnly(info: ModelInfo): ModelInfo {
  if (info.normalisationRecorded) return info;
  return { ...info, dataset: null, normalisation: { mean: info.input.map(() => 0).slice(0, info.input[0]), std: info.input.map(() => 1).slice(0, info.input[0]) } };
}

// ---- the summary --------------------------------------------------------------------------------

const threadsText = (n: number) => `${n} thread${n > 1 ? 's' : ''}`;

const int = (n: number) => n.toLocaleString('en-US');
const sci = (n: number) => n.toExponential(2).replace('e+', 'e');
function bytesText(n: number): string {
  if (n < 1024) return `${int(n)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

function renderSummary(): void {
  const body = byId('summary').querySelector('tbody')!;
  body.replaceChildren();
  if (!model) return;
  const { info, runtime } = model;
  const s = info.summary;
  const rows: [string, string][] = [
    ['model', `${info.name} (${model.file})`],
    ['input', `${info.input.join('×')} → ${info.classes} classes${info.dataset ? ` (${DATASET_TITLES[info.dataset] ?? info.dataset})` : ''}`],
  ];
  if (info.weights) rows.push(['weights', info.weights]);
  if (runtime.converted) rows.push(['form', `${runtime.converted}; sofar convert MODEL.onnx --binary-ops writes that form once`]);
  const { mean, std } = info.normalisation;
  rows.push(['pixels', info.normalisationRecorded ? `÷ 255, then (x − ${mean.join(', ')}) / ${std.join(', ')} as in training (recorded in the model)` : '÷ 255 only: the model records no normalisation (sofar build SPEC --weights RUN records it)']);
  if (s) {
    rows.push(
      ['parameters', `${int(s.params.total)} (${int(s.params.binary)} 1-bit, ${int(s.params.float)} 32-bit)`],
      ['model size', `${bytesText(s.memoryBytes)} (1-bit / 8 + 32-bit × 4); file ${bytesText(model.fileBytes)}`],
      ['MACs', `${sci(s.macs.binary)} 1-bit, ${sci(s.macs.float)} 32-bit`],
      ['OPs', `${sci(s.ops)} (1-bit MACs / 64 + 32-bit MACs)`],
    );
  } else rows.push(['summary', `none (no sofar.summary metadata); file ${bytesText(model.fileBytes)}`]);
  rows.push(['runtime', `${runtime.kernels}, ${threadsText(runtimeThreads(runtime))}; loaded in ${model.loadMs.toFixed(1)} ms; ${self.crossOriginIsolated ? '' : 'not '}cross-origin isolated`]);
  for (const [key, value] of rows) {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    const td = document.createElement('td');
    th.textContent = key;
    td.textContent = value;
    tr.append(th, td);
    body.append(tr);
  }
}

// ---- the image ----------------------------------------------------------------------------------

function clearPad(): void {
  padCtx.fillStyle = '#000';
  padCtx.fillRect(0, 0, pad.width, pad.height);
  source = { kind: 'pad', drawn: false };
}

/** Draws `image` into a w×h context, scaled to fit with black around it (pixelated when enlarging). */
function drawFitted(ctx: CanvasRenderingContext2D, image: ImageBitmap, w: number, h: number): void {
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, w, h);
  const scale = Math.min(w / image.width, h / image.height);
  const [dw, dh] = [image.width * scale, image.height * scale];
  ctx.imageSmoothingEnabled = scale < 1;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(image, (w - dw) / 2, (h - dh) / 2, dw, dh);
}

function showBitmap(bitmap: ImageBitmap): void {
  source = { kind: 'bitmap', bitmap };
  drawFitted(padCtx, bitmap, pad.width, pad.height);
}

/** The current image at the model's input size, as RGBA (inverted when asked); also shown as "what the model sees". */
function modelPixels(info: ModelInfo): Uint8ClampedArray {
  if (info.input.length !== 3) throw new Error(`this model takes vectors [${info.input.join(', ')}], not images`);
  const [, h, w] = info.input;
  if (seen.width !== w || seen.height !== h) [seen.width, seen.height] = [w, h];
  if (source.kind === 'bitmap' && source.bitmap.width === w && source.bitmap.height === h) {
    // An image of the model's size is used pixel for pixel, as `sofar run --input` reads it.
    seenCtx.clearRect(0, 0, w, h);
    seenCtx.imageSmoothingEnabled = false;
    seenCtx.drawImage(source.bitmap, 0, 0);
  } else if (source.kind === 'bitmap') {
    drawFitted(seenCtx, source.bitmap, w, h);
  } else {
    seenCtx.imageSmoothingEnabled = true;
    seenCtx.imageSmoothingQuality = 'high';
    seenCtx.drawImage(pad, 0, 0, w, h);
  }
  const image = seenCtx.getImageData(0, 0, w, h);
  if (byId<HTMLInputElement>('invert').checked) {
    const d = image.data;
    for (let i = 0; i < d.length; i += 4) [d[i], d[i + 1], d[i + 2]] = [255 - d[i], 255 - d[i + 1], 255 - d[i + 2]];
    seenCtx.putImageData(image, 0, 0);
  }
  return image.data;
}

function classifyImage(timed: boolean): void {
  if (!model) return;
  // A blank pad is no image: classifying black would only show the model's bias.
  if (source.kind === 'pad' && !source.drawn) {
    renderResult(null, 0, 0);
    return;
  }
  try {
    run(imageToInput(modelPixels(model.info), model.info), timed);
  } catch (e) {
    showError(message(e));
  }
}

/** One inference on a model input (NCHW floats), shown on the page; timed over TIMED_RUNS runs when asked. */
function run(x: Float32Array, timed: boolean): Float32Array {
  const { runtime, info } = model!;
  lastInput = x;
  let start = performance.now();
  const logits = runtime.run(x, 1);
  const times = [performance.now() - start];
  if (timed) {
    times.length = 0;
    for (let i = 0; i < TIMED_RUNS; i++) {
      start = performance.now();
      runtime.run(x, 1);
      times.push(performance.now() - start);
    }
  }
  times.sort((a, b) => a - b);
  renderResult(topClasses(logits, info.classNames, 5), times[times.length >> 1], times.length);
  return logits;
}

function renderResult(top: ClassScore[] | null, ms: number, runs: number): void {
  const list = byId('top');
  list.replaceChildren();
  byId('latency').textContent = top ? `latency ${ms < 1 ? ms.toFixed(3) : ms.toFixed(2)} ms (${runs > 1 ? `median of ${runs} runs` : 'one run'}, batch 1, ${model!.runtime.kernels}, ${threadsText(runtimeThreads(model!.runtime))})` : '';
  for (const c of top ?? []) {
    const li = document.createElement('li');
    li.innerHTML = '<span class="name"></span><span class="bar"><span></span></span><span class="score"></span>';
    li.querySelector('.name')!.textContent = c.name;
    (li.querySelector('.bar > span') as HTMLElement).style.width = `${(100 * c.probability).toFixed(1)}%`;
    li.querySelector('.score')!.textContent = `${(100 * c.probability).toFixed(1)}%  (logit ${c.logit.toFixed(2)})`;
    list.append(li);
  }
}

// ---- drawing ------------------------------------------------------------------------------------

function wireDrawing(): void {
  let last: [number, number] | null = null;
  let frame = 0;
  const at = (e: PointerEvent): [number, number] => {
    const r = pad.getBoundingClientRect();
    return [((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height];
  };
  pad.addEventListener('pointerdown', (e) => {
    pad.setPointerCapture(e.pointerId);
    source = { kind: 'pad', drawn: true };
    last = at(e);
    stroke(last, last);
  });
  pad.addEventListener('pointermove', (e) => {
    if (!last) return;
    const p = at(e);
    stroke(last, p);
    last = p;
    // Live results while drawing: one untimed run a frame.
    if (!frame) frame = requestAnimationFrame(() => ((frame = 0), classifyImage(false)));
  });
  const end = () => {
    if (!last) return;
    last = null;
    classifyImage(true);
  };
  pad.addEventListener('pointerup', end);
  pad.addEventListener('pointercancel', end);
}

function stroke(from: [number, number], to: [number, number]): void {
  padCtx.strokeStyle = '#fff';
  padCtx.lineWidth = pad.width / 12;
  padCtx.lineCap = 'round';
  padCtx.lineJoin = 'round';
  padCtx.beginPath();
  padCtx.moveTo(...from);
  padCtx.lineTo(...to);
  padCtx.stroke();
}

// ---- test images --------------------------------------------------------------------------------

async function loadSamples(): Promise<void> {
  const [sprite, meta] = await Promise.all([
    fetch(`${SAMPLES}.png`).then((r) => (r.ok ? r.blob() : Promise.reject(new Error(`HTTP ${r.status}`)))).then((b) => createImageBitmap(b, bitmapOptions)),
    fetch(`${SAMPLES}.json`).then((r) => (r.ok ? (r.json() as Promise<{ indices: number[]; labels: number[] }>) : null)).catch(() => null),
  ]);
  const size = sprite.height;
  const box = byId('samples');
  for (let k = 0; k * size < sprite.width; k++) {
    const bitmap = await createImageBitmap(sprite, k * size, 0, size, size, bitmapOptions);
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'sample';
    button.setAttribute('role', 'listitem');
    button.title = meta ? `Fashion-MNIST test image ${meta.indices[k]}` : 'a Fashion-MNIST test image';
    const thumb = document.createElement('canvas');
    [thumb.width, thumb.height] = [size, size];
    thumb.getContext('2d')!.drawImage(bitmap, 0, 0);
    button.append(thumb);
    button.addEventListener('click', () => {
      showBitmap(bitmap);
      classifyImage(true);
    });
    box.append(button);
  }
}

// ---- wiring -------------------------------------------------------------------------------------

function wire(): Promise<void> {
  clearPad();
  wireDrawing();
  byId('clear').addEventListener('click', () => {
    clearPad();
    classifyImage(false);
  });
  byId('invert').addEventListener('change', () => classifyImage(true));
  byId('bundled').addEventListener('click', () => void openModel(BUNDLED_MODEL, () => fetchBytes(BUNDLED_MODEL)));
  const modelFile = byId<HTMLInputElement>('model-file');
  modelFile.addEventListener('change', () => {
    const file = modelFile.files?.[0];
    modelFile.value = '';
    if (file) void openModel(file.name, () => file.arrayBuffer());
  });
  const imageFile = byId<HTMLInputElement>('image-file');
  imageFile.addEventListener('change', async () => {
    const file = imageFile.files?.[0];
    imageFile.value = '';
    if (!file) return;
    try {
      showBitmap(await createImageBitmap(file, bitmapOptions));
    } catch {
      showError(`${file.name}: not an image this browser can decode (give a PNG or JPEG)`);
      return;
    }
    if (model) {
      showError(null);
      setState('ready');
    }
    classifyImage(true);
  });
  loadSamples().catch((e: unknown) => (byId('samples').textContent = `(test images unavailable: ${message(e)})`));
  return openModel(BUNDLED_MODEL, () => fetchBytes(BUNDLED_MODEL));
}

window.sofarPage = {
  ready: wire(),
  classify(values) {
    if (!model) throw new Error('no model is loaded');
    return Array.from(run(Float32Array.from(values), false));
  },
  lastInput: () => (lastInput ? Array.from(lastInput) : null),
  info: () => model?.info ?? null,
};
