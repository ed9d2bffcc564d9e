/**
 * CIFAR-10's binary version: `data_batch_1.bin` … `data_batch_5.bin` (training) and `test_batch.bin`.
 * Each record is one label byte (0–9) then 3072 pixel bytes: the red, green and blue 32×32 planes,
 * row-major — already channel-first, so a record's pixels are one NCHW sample.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dataError } from './errors.js';

export const CIFAR_SHAPE = [3, 32, 32] as const;
export const CIFAR_CLASSES = 10;
const PIXELS = 3 * 32 * 32;
const RECORD = 1 + PIXELS;

export const CIFAR_TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
export const CIFAR_TEST_FILES = ['test_batch.bin'];

export interface CifarSplit {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

/** The folder holding the batches: `dir` itself or its `cifar-10-batches-bin` (the archive's layout). */
export function findCifarDir(dir: string): string | null {
  for (const candidate of [dir, join(dir, 'cifar-10-batches-bin')]) {
    if (existsSync(join(candidate, CIFAR_TEST_FILES[0]))) return candidate;
  }
  return null;
}

/** Parses the records of one or more batch files into one split. */
export function parseCifarBatches(files: { path: string; bytes: Uint8Array }[]): CifarSplit {
  let count = 0;
  for (const f of files) {
    if (f.bytes.length % RECORD !== 0) {
      throw dataError(`${f.path} is not a CIFAR-10 binary batch: its size ${f.bytes.length} is not a multiple of ${RECORD} bytes`);
    }
    count += f.bytes.length / RECORD;
  }
  const images = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  let i = 0;
  for (const f of files) {
    for (let offset = 0; offset < f.bytes.length; offset += RECORD, i++) {
      const label = f.bytes[offset];
      if (label >= CIFAR_CLASSES) throw dataError(`${f.path}: record ${offset / RECORD} has label ${label}; CIFAR-10 labels are 0–9`);
      labels[i] = label;
      images.set(f.bytes.subarray(offset + 1, offset + RECORD), i * PIXELS);
    }
  }
  return { images, labels, count };
}

export function readCifarSplit(dir: string, names: readonly string[]): CifarSplit {
  const files = names.map((name) => {
    const path = join(dir, name);
    try {
      return { path, bytes: readFileSync(path) as Uint8Array };
    } catch (e) {
      throw dataError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'CIFAR-10 needs data_batch_1.bin … data_batch_5.bin and test_batch.bin');
    }
  });
  return parseCifarBatches(files);
}
