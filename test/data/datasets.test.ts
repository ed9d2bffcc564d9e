import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { augmentBatch } from '../../src/data/augment.js';
import { parseCifarBatches } from '../../src/data/cifar.js';
import { limitedSizes, loadDataset } from '../../src/data/index.js';
import { measureNormalisation, NORMALISATION } from '../../src/data/normalise.js';
import { syntheticPrototypes } from '../../src/data/synthetic.js';
import { readIdx } from '../../src/data/idx.js';
import { Random } from '../../src/random.js';
import { idxBytes } from './helpers.js';
import { skipWithout } from '../helpers/requirements.js';
import { tempDirs } from '../helpers/temp.js';

const tempDir = tempDirs('sofar-data-');

const model = (input: number[], classes = 10) => ({ input, classes, name: 'm' });

/** A 4-image training set and 2-image test set of 2×3 IDX images, gzipped like the downloads. */
function tinyIdxDir(): string {
  const dir = tempDir();
  const train = [0, 51, 102, 153, 204, 255, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 10, 20, 30, 40, 50, 60];
  writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(idxBytes([4, 2, 3], train)));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(idxBytes([4], [3, 1, 0, 2])));
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idxBytes([2, 2, 3], new Array(12).fill(255)));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idxBytes([2], [1, 1]));
  return dir;
}

describe('loading IDX data sets from a path', () => {
  it('normalises with the statistics measured on the training images', () => {
    const ds = loadDataset(tinyIdxDir(), model([1, 2, 3], 4));
    // Independent computation of the population mean and std of the 24 training pixels on [0, 1].
    const pixels = [0, 51, 102, 153, 204, 255, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 10, 20, 30, 40, 50, 60].map((v) => v / 255);
    const mean = pixels.reduce((a, b) => a + b) / 24;
    const std = Math.sqrt(pixels.reduce((a, b) => a + (b - mean) ** 2, 0) / 24);
    expect(ds.normalisation.mean[0]).toBeCloseTo(mean, 12);
    expect(ds.normalisation.std[0]).toBeCloseTo(std, 12);
    expect(ds.shape).toEqual([1, 2, 3]);
    expect(ds.classes).toBe(4);
    expect([...ds.train.y]).toEqual([3, 1, 0, 2]);
    expect(ds.train.x[1]).toBeCloseTo((51 / 255 - mean) / std, 5);
    expect(ds.test.x[0]).toBeCloseTo((1 - mean) / std, 5);
    expect(ds.train.n).toBe(4);
    expect(ds.test.n).toBe(2);
    expect(ds.augmentation).toBeNull();
  });

  it('limit keeps the first N training samples and a proportional share of the test set', () => {
    const ds = loadDataset(tinyIdxDir(), model([1, 2, 3], 4), { limit: 2 });
    expect([...ds.train.y]).toEqual([3, 1]);
    expect(ds.train.x.length).toBe(12);
    expect(ds.test.n).toBe(1);
    expect(limitedSizes(60000, 10000, 1000)).toEqual({ train: 1000, test: 167 });
    expect(limitedSizes(60000, 10000, 1)).toEqual({ train: 1, test: 1 });
    expect(limitedSizes(60000, 10000, 70000)).toEqual({ train: 60000, test: 10000 });
  });

  it('refuses images of another shape than the model’s input, naming both', () => {
    expect(() => loadDataset(tinyIdxDir(), model([1, 28, 28]))).toThrow(/the images of .* are 1×2×3 but the model 'm' takes 1×28×28 input/);
  });

  it('refuses labels the model cannot predict', () => {
    expect(() => loadDataset(tinyIdxDir(), model([1, 2, 3], 3))).toThrow(/has 4 classes but the model 'm' predicts 3/);
  });

  it('explains a missing folder, a file, an empty folder and a partial IDX set', () => {
    const dir = tempDir();
    expect(() => loadDataset(join(dir, 'nope'), model([1, 2, 3]))).toThrow(/no data set at .*nope: it does not exist/);
    writeFileSync(join(dir, 'file'), 'x');
    expect(() => loadDataset(join(dir, 'file'), model([1, 2, 3]))).toThrow(/is a file/);
    expect(() => loadDataset(dir, model([1, 2, 3]))).toThrow(/no data set found in/);
    const partial = tempDir();
    writeFileSync(join(partial, 'train-images-idx3-ubyte'), idxBytes([1, 1, 1], [0]));
    expect(() => loadDataset(partial, model([1, 1, 1]))).toThrow(/lacks train labels, test images, test labels/);
    const noTrainImages = tempDir();
    for (const name of ['train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) writeFileSync(join(noTrainImages, name), idxBytes([1], [0]));
    expect(() => loadDataset(noTrainImages, model([1, 1, 1]))).toThrow(/holds some IDX files but lacks train images$/);
    expect(() => loadDataset('synthetic', model([1, 2, 2]), { limit: 0 })).toThrow(/limit must be a whole number ≥ 1/);
  });
});

describe.skipIf(existsSync('/usr/share/datasets/mnist'))('a named data set that is not installed', () => {
  it('says where it was looked for and how to get it', () => {
    const err = (() => {
      try {
        loadDataset('mnist', model([1, 28, 28]));
      } catch (e) {
        return e as Error & { diagnostics: { hint?: string }[] };
      }
    })();
    expect(err?.message).toBe('error: the mnist data set is not installed: /usr/share/datasets/mnist does not exist');
    expect(err?.diagnostics[0].hint).toMatch(/or pass --data PATH to their folder/);
  });
});

const FASHION = '/usr/share/datasets/fashion-mnist';

describe.skipIf(skipWithout(existsSync(FASHION) ? null : `Fashion-MNIST is not installed at ${FASHION} (apt-get install dataset-fashion-mnist)`))('Fashion-MNIST as installed by Debian', () => {
  it('has the documented statistics (constants checked against the 60 000 training images)', () => {
    const images = readIdx(join(FASHION, 'train-images-idx3-ubyte.gz'));
    expect(images.dims).toEqual([60000, 28, 28]);
    const measured = measureNormalisation(images.data, 60000, 1);
    expect(measured.mean[0]).toBeCloseTo(NORMALISATION['fashion-mnist'].mean[0], 3);
    expect(measured.std[0]).toBeCloseTo(NORMALISATION['fashion-mnist'].std[0], 3);
  });

  it('loads by name with --limit, 10 balanced-ish classes, normalised', () => {
    const ds = loadDataset('fashion-mnist', model([1, 28, 28]), { limit: 600 });
    expect(ds.train.n).toBe(600);
    expect(ds.test.n).toBe(100);
    expect(ds.fullSizes).toEqual({ train: 60000, test: 10000 });
    expect(new Set(ds.train.y).size).toBe(10);
    const mean = ds.train.x.reduce((a, b) => a + b, 0) / ds.train.x.length;
    expect(Math.abs(mean)).toBeLessThan(0.1);
  });
});

describe('CIFAR-10 binary batches', () => {
  it('parses label + 3072 channel-first bytes per record, across files', () => {
    const record = (label: number, fill: (i: number) => number) => [label, ...Array.from({ length: 3072 }, (_, i) => fill(i))];
    const a = Uint8Array.from([...record(3, (i) => i % 256), ...record(9, () => 7)]);
    const b = Uint8Array.from(record(0, (i) => (i < 1024 ? 255 : 0)));
    const split = parseCifarBatches([
      { path: 'a.bin', bytes: a },
      { path: 'b.bin', bytes: b },
    ]);
    expect(split.count).toBe(3);
    expect([...split.labels]).toEqual([3, 9, 0]);
    expect(split.images[5]).toBe(5);
    expect(split.images[3072 + 100]).toBe(7);
    // The third image: red plane 255, green and blue 0.
    expect(split.images[2 * 3072 + 1023]).toBe(255);
    expect(split.images[2 * 3072 + 1024]).toBe(0);
    expect(() => parseCifarBatches([{ path: 'c.bin', bytes: new Uint8Array(3074) }])).toThrow(/c.bin is not a CIFAR-10 binary batch/);
    expect(() => parseCifarBatches([{ path: 'd.bin', bytes: Uint8Array.from(record(10, () => 0)) }])).toThrow(/label 10; CIFAR-10 labels are 0–9/);
  });

  it('loads a folder of batches (the archive’s layout), with crop-and-flip for training', () => {
    const root = tempDir();
    const dir = join(root, 'cifar-10-batches-bin');
    mkdirSync(dir);
    const batch = (labels: number[]) => Uint8Array.from(labels.flatMap((l) => [l, ...new Array(3072).fill(l * 20)]));
    for (let i = 1; i <= 5; i++) writeFileSync(join(dir, `data_batch_${i}.bin`), batch([i, i + 1]));
    writeFileSync(join(dir, 'test_batch.bin'), batch([0]));
    const ds = loadDataset(root, model([3, 32, 32]));
    expect(ds.train.n).toBe(10);
    expect([...ds.train.y]).toEqual([1, 2, 2, 3, 3, 4, 4, 5, 5, 6]);
    expect(ds.classes).toBe(10);
    expect(ds.augmentation).toMatchObject({ kind: 'crop-flip', pad: 4 });
    // The fill is the normalised value of a black pixel per channel.
    ds.augmentation!.fill.forEach((f, c) => expect(f).toBeCloseTo(-ds.normalisation.mean[c] / ds.normalisation.std[c], 6));
    expect(loadDataset(root, model([3, 32, 32]), { augment: false }).augmentation).toBeNull();
    expect(() => loadDataset(root, model([1, 28, 28]))).toThrow(/are 3×32×32 but the model 'm' takes 1×28×28/);
  });
});

describe('crop-and-flip augmentation', () => {
  it('equals padding, cropping and flipping done the obvious way', () => {
    const [C, H, W, pad] = [2, 5, 6, 2];
    const n = 12;
    const x = Float32Array.from({ length: n * C * H * W }, (_, i) => i);
    const original = x.slice();
    const fill = [-1, -2];
    augmentBatch({ kind: 'crop-flip', pad, fill }, x, n, [C, H, W], new Random(4, 'aug'));
    const rng = new Random(4, 'aug');
    const flips = new Set<boolean>();
    for (let i = 0; i < n; i++) {
      const dy = rng.int(2 * pad + 1);
      const dx = rng.int(2 * pad + 1);
      const flip = rng.uniform() < 0.5;
      flips.add(flip);
      for (let c = 0; c < C; c++) {
        // Pad to (H + 2p) × (W + 2p), crop at (dy, dx), then mirror.
        const padded = Array.from({ length: H + 2 * pad }, (_, r) =>
          Array.from({ length: W + 2 * pad }, (_, q) => {
            const [sr, sq] = [r - pad, q - pad];
            return sr >= 0 && sr < H && sq >= 0 && sq < W ? original[((i * C + c) * H + sr) * W + sq] : fill[c];
          }),
        );
        for (let r = 0; r < H; r++) {
          const row = padded[r + dy].slice(dx, dx + W);
          if (flip) row.reverse();
          expect([...x.subarray(((i * C + c) * H + r) * W, ((i * C + c) * H + r + 1) * W)]).toEqual(row);
        }
      }
    }
    expect(flips.size).toBe(2);
  });
});

describe('synthetic data', () => {
  it('is seeded, shaped like the model input, balanced, and separable by the nearest prototype', () => {
    const ds = loadDataset('synthetic', model([1, 8, 8], 4));
    expect(ds.shape).toEqual([1, 8, 8]);
    expect(ds.train.n).toBe(1024);
    expect(ds.test.n).toBe(256);
    expect([0, 1, 2, 3].map((k) => ds.train.y.filter((y) => y === k).length)).toEqual([256, 256, 256, 256]);
    expect(loadDataset('synthetic', model([1, 8, 8], 4)).train.x).toEqual(ds.train.x);
    expect(loadDataset('synthetic', model([1, 8, 8], 4), { synthetic: { seed: 1 } }).train.x).not.toEqual(ds.train.x);
    // A limited set is a prefix of the full one.
    expect(loadDataset('synthetic', model([1, 8, 8], 4), { limit: 100 }).train.x).toEqual(ds.train.x.subarray(0, 100 * 64));
    const prototypes = syntheticPrototypes([1, 8, 8], 4, 0);
    let correct = 0;
    for (let i = 0; i < ds.test.n; i++) {
      const sample = ds.test.x.subarray(i * 64, (i + 1) * 64);
      const distances = prototypes.map((p) => p.reduce((s, v, k) => s + (v - sample[k]) ** 2, 0));
      if (distances.indexOf(Math.min(...distances)) === ds.test.y[i]) correct++;
    }
    expect(correct / ds.test.n).toBeGreaterThan(0.99);
  });
});
