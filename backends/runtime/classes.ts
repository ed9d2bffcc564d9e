/**
 * What a model is and how to feed it, for both entry points (`sofar/runtime` in Node, `sofar/web` in
 * browsers): its metadata as a ModelInfo, RGBA pixels → its input, logits → the best classes. No Node APIs.
 */
import type { Summary } from '../../src/cost.js';
import { decodeInputNormalisation, NORMALISATION, NORMALISATION_METADATA_KEY, normaliseImages, type Normalisation } from '../../src/data/normalise.js';
import type { RuntimeModel } from './model.js';

/** Fashion-MNIST's classes, in label order. */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** The class names of the data sets SoFAr trains on, in label order (by `sofar.normalisation`'s dataset). */
export const DATASET_CLASSES: Readonly<Record<string, readonly string[]>> = {
  'fashion-mnist': FASHION_MNIST_CLASSES,
  mnist: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  cifar10: ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'],
};

/** The data set's class names when it has `classes` of them, else null. */
export function datasetClassNames(dataset: string | null | undefined, classes: number): string[] | null {
  const names = dataset ? DATASET_CLASSES[dataset] : undefined;
  return names && names.length === classes ? [...names] : null;
}

export interface ModelInfo {
  /** `sofar.spec`, else the graph's name. */
  name: string;
  /** `sofar.variant` (`binary-ops`), `sofar.weights` (where the weights came from), `sofar.version`. */
  variant: string | null;
  weights: string | null;
  version: string | null;
  /** Per-sample input `[C, H, W]` and the number of classes. */
  input: number[];
  classes: number;
  classNames: string[];
  /** `sofar.summary`: params, model size, MACs, OPs (Larq's conventions); null when absent. */
  summary: Summary | null;
  /**
   * What pixels go through before the model: the data set's mean and std, as `sofar train` normalises.
   * Read from `sofar.normalisation` when the model records it; otherwise guessed from the input:
   * 1×28×28 is Fashion-MNIST, 3×32×32 CIFAR-10, anything else is not normalised.
   */
  normalisation: Normalisation;
  /** The data set the normalisation comes from (`fashion-mnist`, `cifar10`, a path, ...), or null. */
  dataset: string | null;
  /** True when the normalisation is the model's own record, false when guessed from the input shape. */
  normalisationRecorded: boolean;
}

/** What a model is, from its metadata and shapes. */
export function modelInfo(model: RuntimeModel): ModelInfo {
  const m = model.metadata;
  const input = model.input.shape;
  const classes = model.output.shape.reduce((a, b) => a * b, 1);
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
  const recorded = decodeInputNormalisation(m[NORMALISATION_METADATA_KEY]);
  const fits = recorded !== null && recorded.mean.length === input[0];
  const guess = same(input, [1, 28, 28]) ? 'fashion-mnist' : same(input, [3, 32, 32]) ? 'cifar10' : null;
  const dataset = fits ? recorded.dataset : guess;
  const norm: Normalisation = fits ? recorded : guess ? NORMALISATION[guess] : { mean: input.map(() => 0), std: input.map(() => 1) };
  let summary: Summary | null = null;
  try {
    summary = m['sofar.summary'] ? (JSON.parse(m['sofar.summary']) as Summary) : null;
  } catch {
    summary = null;
  }
  return {
    name: m['sofar.spec'] || model.name,
    variant: m['sofar.variant'] ?? null,
    weights: m['sofar.weights'] ?? null,
    version: m['sofar.version'] ?? null,
    input,
    classes,
    classNames: datasetClassNames(dataset, classes) ?? Array.from({ length: classes }, (_, i) => `class ${i}`),
    summary,
    normalisation: { mean: [...norm.mean], std: [...norm.std] },
    dataset,
    normalisationRecorded: fits,
  };
}

/**
 * RGBA pixels of the model's input size (a canvas's `ImageData.data`) → the model's input, NCHW float32:
 * grey models take the luma (ITU-R BT.601, as `sofar run --input` reads images) rounded to a byte, then
 * the same normalisation as training, `(byte / 255 − mean) / std`.
 */
export function imageToInput(rgba: ArrayLike<number>, info: Pick<ModelInfo, 'input' | 'normalisation'>): Float32Array {
  const [channels, height, width] = info.input;
  const pixels = height * width;
  if (info.input.length !== 3 || (channels !== 1 && channels !== 3)) throw new RangeError(`images feed models of 1 or 3 channels, this one takes [${info.input.join(', ')}]`);
  if (rgba.length !== 4 * pixels) throw new RangeError(`the model takes ${width}×${height} pixels (${4 * pixels} RGBA bytes), got ${rgba.length} bytes`);
  const bytes = new Uint8Array(channels * pixels);
  for (let p = 0; p < pixels; p++) {
    const [r, g, b] = [rgba[4 * p], rgba[4 * p + 1], rgba[4 * p + 2]];
    if (channels === 1) bytes[p] = r === g && g === b ? r : Math.round(0.299 * r + 0.587 * g + 0.114 * b);
    else [bytes[p], bytes[pixels + p], bytes[2 * pixels + p]] = [r, g, b];
  }
  return normaliseImages(bytes, 1, info.input, info.normalisation);
}

export interface ClassScore {
  index: number;
  name: string;
  logit: number;
  /** Softmax over all classes. */
  probability: number;
}

/**
 * The `k` highest-scoring classes of one sample's logits, best first (a class without a name is
 * `class i`). A batch's logits go through `topClassesOfRows`.
 */
export function topClasses(logits: ArrayLike<number>, names: readonly string[], k = 5): ClassScore[] {
  // Missing names become `class i`; whole rows of them are a batch, which a single ranking would mix up.
  const rows = logits.length / names.length;
  if (Number.isInteger(rows) && rows > 1) throw new RangeError(`topClasses: ${logits.length} logits for ${names.length} classes are a batch of ${rows} samples: rank them with topClassesOfRows`);
  return rankRow(logits, names, k);
}

/** `topClasses` of each sample of a batch's logits (row-major `[n, classes]`, classes = names.length). */
export function topClassesOfRows(logits: ArrayLike<number>, names: readonly string[], k = 5): ClassScore[][] {
  const classes = names.length;
  if (classes === 0 || logits.length % classes !== 0) throw new RangeError(`topClassesOfRows: ${logits.length} logits are not rows of ${classes} classes`);
  const values = Array.from(logits);
  return Array.from({ length: values.length / classes }, (_, i) => rankRow(values.slice(i * classes, (i + 1) * classes), names, k));
}

function rankRow(logits: ArrayLike<number>, names: readonly string[], k: number): ClassScore[] {
  const values = Array.from(logits);
  const max = Math.max(...values);
  const exps = values.map((v) => Math.exp(v - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return values
    .map((logit, index) => ({ index, name: names[index] ?? `class ${index}`, logit, probability: exps[index] / total }))
    .sort((a, b) => b.logit - a.logit)
    .slice(0, k);
}
