/**
 * Data sets for training and evaluation, as NCHW float32 after normalisation.
 *
 * `loadDataset(source, model, options)` takes a name — `fashion-mnist`, `mnist`, `cifar10`,
 * `synthetic` — or a path to a folder of IDX files or CIFAR-10 binary batches. Named data sets live
 * where Debian's `dataset-*` packages install them (`/usr/share/datasets/<name>`). The images must
 * have the model's input shape and the labels must fit its classes; anything else is a clear error.
 *
 * `limit` keeps the first N training samples and a proportional share of the test set:
 * ⌈N · test / train⌉ samples (at least 1), so a quick run is validated on data of the same mix.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Graph } from '../graph/types.js';
import type { Augmentation } from './augment.js';
import { CIFAR_CLASSES, CIFAR_SHAPE, CIFAR_TEST_FILES, CIFAR_TRAIN_FILES, findCifarDir, readCifarSplit } from './cifar.js';
import { dataError } from './errors.js';
import { readIdxSplit } from './idx.js';
import { IDENTITY, measureNormalisation, NORMALISATION, normaliseImages, type Normalisation } from './normalise.js';
import { SYNTHETIC_DEFAULTS, syntheticSplit, type SyntheticOptions } from './synthetic.js';

export type { Augmentation } from './augment.js';
export type { Normalisation } from './normalise.js';
export type { SyntheticOptions } from './synthetic.js';

export const DATASET_NAMES = ['fashion-mnist', 'mnist', 'cifar10', 'synthetic'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

/** Where Debian's dataset packages put each named data set. */
export const DEFAULT_DATA_DIRS: Record<Exclude<DatasetName, 'synthetic'>, string> = {
  'fashion-mnist': '/usr/share/datasets/fashion-mnist',
  mnist: '/usr/share/datasets/mnist',
  cifar10: '/usr/share/datasets/cifar-10',
};

/** How to get each named data set (Debian packages only Fashion-MNIST). */
const INSTALL_HINTS: Record<Exclude<DatasetName, 'synthetic'>, string> = {
  'fashion-mnist': 'install it with `apt-get install dataset-fashion-mnist`, or pass --data PATH to a folder of its IDX files',
  mnist: `put the four MNIST IDX files (train-images-idx3-ubyte.gz, …) in ${DEFAULT_DATA_DIRS.mnist}, or pass --data PATH to their folder`,
  cifar10: `put CIFAR-10's binary version (data_batch_1.bin … data_batch_5.bin, test_batch.bin) in ${DEFAULT_DATA_DIRS.cifar10}, or pass --data PATH to its folder`,
};

export interface Split {
  /** `[n, C, H, W]` row-major, normalised. */
  x: Float32Array;
  y: Int32Array;
  n: number;
}

export interface Dataset {
  /** The name given (`fashion-mnist`) or the path. */
  source: string;
  /** Image shape `[C, H, W]`. */
  shape: number[];
  classes: number;
  train: Split;
  test: Split;
  normalisation: Normalisation;
  /** Applied by the training loop to training batches only. */
  augmentation: Augmentation | null;
  /** Sizes before `limit`. */
  fullSizes: { train: number; test: number };
}

/** What the data must fit: a graph, or the input and classes read from an ONNX model. */
/** What a data set must fit; `exported` marks an ONNX model, whose input a spec edit cannot change. */
export type DataShape = Pick<Graph, 'input' | 'classes'> & { name?: string; exported?: boolean };

export interface LoadOptions {
  /** Keep the first N training samples and a proportional share of the test samples. */
  limit?: number;
  /** Random crop and flip for CIFAR training batches (default true). */
  augment?: boolean;
  synthetic?: SyntheticOptions;
  /** `test`: leave the training split empty (evaluation needs only the test images). */
  only?: 'test';
  /** Keep only the first N test samples (`sofar eval --limit N`); applied after `limit`. */
  testLimit?: number;
}

interface RawSet {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

/** The test-set share that goes with the first `limit` training samples. */
export function limitedSizes(train: number, test: number, limit: number | undefined): { train: number; test: number } {
  if (limit === undefined || limit >= train) return { train, test };
  return { train: limit, test: Math.min(test, Math.max(1, Math.ceil((limit * test) / train))) };
}

export function loadDataset(source: string, model: DataShape, options: LoadOptions = {}): Dataset {
  if (options.limit !== undefined && !(Number.isInteger(options.limit) && options.limit >= 1)) {
    throw dataError(`the sample limit must be a whole number ≥ 1, got ${options.limit}`);
  }
  if (source === 'synthetic') return loadSynthetic(model, options);
  const named = (DATASET_NAMES as readonly string[]).includes(source);
  const dir = named ? DEFAULT_DATA_DIRS[source as Exclude<DatasetName, 'synthetic'>] : source;
  if (!existsSync(dir)) {
    throw dataError(
      named ? `the ${source} data set is not installed: ${dir} does not exist` : `no data set at ${dir}: it does not exist`,
      named ? INSTALL_HINTS[source as Exclude<DatasetName, 'synthetic'>] : `--data takes ${DATASET_NAMES.join(', ')}, or a folder of IDX files or CIFAR-10 binary batches`,
    );
  }
  if (!statSync(dir).isDirectory()) {
    throw dataError(`${dir} is a file; --data PATH names a folder of IDX files or CIFAR-10 binary batches`);
  }
  const idx = findIdxFiles(dir);
  const cifarDir = idx ? null : findCifarDir(dir);
  if (!idx && !cifarDir) {
    throw dataError(
      `no data set found in ${dir}`,
      'expected IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-…) or CIFAR-10 batches (data_batch_1.bin … test_batch.bin)',
    );
  }
  if (idx) {
    const train = readIdxSplit(idx.trainImages, idx.trainLabels);
    const test = readIdxSplit(idx.testImages, idx.testLabels);
    if (test.height !== train.height || test.width !== train.width) {
      throw dataError(`in ${dir} the training images are ${train.height}×${train.width} but the test images ${test.height}×${test.width}`);
    }
    const shape = [1, train.height, train.width];
    const norm = source === 'fashion-mnist' || source === 'mnist' ? NORMALISATION[source] : measureNormalisation(train.images, train.count, 1);
    return finish(source, shape, train, test, norm, null, model, options);
  }
  const train = readCifarSplit(cifarDir!, CIFAR_TRAIN_FILES);
  const test = readCifarSplit(cifarDir!, CIFAR_TEST_FILES);
  const shape = [...CIFAR_SHAPE];
  const norm = source === 'cifar10' ? NORMALISATION.cifar10 : measureNormalisation(train.images, train.count, 3);
  const augmentation: Augmentation | null =
    options.augment === false ? null : { kind: 'crop-flip', pad: 4, fill: norm.mean.map((m, c) => -m / norm.std[c]) };
  return finish(source, shape, train, test, norm, augmentation, model, options, CIFAR_CLASSES);
}

function finish(
  source: string,
  shape: number[],
  train: RawSet,
  test: RawSet,
  norm: Normalisation,
  augmentation: Augmentation | null,
  model: DataShape,
  options: LoadOptions,
  declaredClasses?: number,
): Dataset {
  checkShape(source, shape, model);
  const classes = declaredClasses ?? Math.max(maxLabel(train.labels, train.count), maxLabel(test.labels, test.count)) + 1;
  if (classes > model.classes) {
    throw dataError(
      `the data set ${source} has ${classes} classes but the model${model.name ? ` '${model.name}'` : ''} predicts ${model.classes}`,
      'set the spec’s classes to the data set’s',
    );
  }
  const sizes = limitedSizes(train.count, test.count, options.limit);
  if (options.only === 'test') sizes.train = 0;
  if (options.testLimit !== undefined) sizes.test = Math.min(sizes.test, options.testLimit);
  const split = (raw: RawSet, n: number): Split => ({
    x: normaliseImages(raw.images, n, shape, norm),
    y: Int32Array.from(raw.labels.subarray(0, n)),
    n,
  });
  return {
    source,
    shape,
    classes,
    train: split(train, sizes.train),
    test: split(test, sizes.test),
    normalisation: { mean: [...norm.mean], std: [...norm.std] },
    augmentation,
    fullSizes: { train: train.count, test: test.count },
  };
}

function loadSynthetic(model: DataShape, options: LoadOptions): Dataset {
  const shape = [...model.input];
  const full = {
    train: options.synthetic?.trainSize ?? SYNTHETIC_DEFAULTS.trainSize,
    test: options.synthetic?.testSize ?? SYNTHETIC_DEFAULTS.testSize,
  };
  const sizes = limitedSizes(full.train, full.test, options.limit);
  if (options.only === 'test') sizes.train = 0;
  if (options.testLimit !== undefined) sizes.test = Math.min(sizes.test, options.testLimit);
  return {
    source: 'synthetic',
    shape,
    classes: model.classes,
    train: syntheticSplit('train', sizes.train, shape, model.classes, options.synthetic),
    test: syntheticSplit('test', sizes.test, shape, model.classes, options.synthetic),
    normalisation: IDENTITY(shape[0]),
    augmentation: null,
    fullSizes: full,
  };
}

function checkShape(source: string, shape: number[], model: DataShape): void {
  const same = shape.length === model.input.length && shape.every((d, i) => d === model.input[i]);
  if (same) return;
  throw dataError(
    `the images of ${source} are ${shape.join('×')} but the model${model.name ? ` '${model.name}'` : ''} takes ${model.input.join('×')} input`,
    model.exported
      ? `evaluate it on a data set of ${model.input.join('×')} images, or export the spec again with input ${shape.join('x')} and train it`
      : `train on a data set of ${model.input.join('×')} images, or change the spec’s input to ${shape.join('x')}`,
  );
}

function maxLabel(labels: Uint8Array, count: number): number {
  let max = 0;
  for (let i = 0; i < count; i++) if (labels[i] > max) max = labels[i];
  return max;
}

interface IdxFiles {
  trainImages: string;
  trainLabels: string;
  testImages: string;
  testLabels: string;
}

/** LeCun's file names, gzipped or not, with `-idx3` or the `.idx3` some mirrors use. */
function findIdxFiles(dir: string): IdxFiles | null {
  const find = (prefix: string, kind: 'idx3' | 'idx1'): string | null => {
    for (const sep of ['-', '.']) {
      for (const ext of ['', '.gz']) {
        const path = join(dir, `${prefix}${sep}${kind}-ubyte${ext}`);
        if (existsSync(path)) return path;
      }
    }
    return null;
  };
  const files = {
    trainImages: find('train-images', 'idx3'),
    trainLabels: find('train-labels', 'idx1'),
    testImages: find('t10k-images', 'idx3'),
    testLabels: find('t10k-labels', 'idx1'),
  };
  const missing = Object.entries(files).filter(([, p]) => p === null);
  if (missing.length === 4) return null;
  if (missing.length) {
    throw dataError(`${dir} holds some IDX files but lacks ${missing.map(([k]) => k.replace(/[A-Z]/, (c) => ' ' + c.toLowerCase())).join(', ')}`,
      'an IDX data set needs train-images, train-labels, t10k-images and t10k-labels files');
  }
  return files as IdxFiles;
}
