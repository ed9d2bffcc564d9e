import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseIdx, readIdx, readIdxSplit } from '../../src/data/idx.js';
import { idxBytes } from './helpers.js';
import { tempDirs } from '../helpers/temp.js';

const tempDir = tempDirs('sofar-idx-');

describe('IDX reader', () => {
  it('reads dimensions (big-endian) and bytes', () => {
    const a = parseIdx(idxBytes([2, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 255]));
    expect(a.dims).toEqual([2, 2, 3]);
    expect([...a.data]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 255]);
    // A dimension above 255 needs all four bytes.
    expect(parseIdx(idxBytes([300], new Array(300).fill(7))).dims).toEqual([300]);
  });

  it('reads gzipped and plain files alike, by content', () => {
    const dir = tempDir();
    const raw = idxBytes([3], [4, 5, 6]);
    writeFileSync(join(dir, 'plain'), raw);
    writeFileSync(join(dir, 'zipped'), gzipSync(raw));
    expect(readIdx(join(dir, 'plain'))).toEqual(readIdx(join(dir, 'zipped')));
  });

  it('explains bad files', () => {
    const dir = tempDir();
    expect(() => readIdx(join(dir, 'absent'))).toThrow(/cannot read .*absent: ENOENT/);
    expect(() => parseIdx(Buffer.from([1, 0, 8, 1]), 'f')).toThrow(/f is not an IDX file/);
    expect(() => parseIdx(idxBytes([1], [0, 0, 0, 0], 0x0d), 'f')).toThrow(/holds float32 \(0x0d\) values; images and labels are unsigned bytes/);
    expect(() => parseIdx(idxBytes([2, 2], [1, 2, 3]), 'f')).toThrow(/declares 2×2 = 4 values but holds 3/);
    expect(() => parseIdx(idxBytes([2, 2], [1, 2, 3, 4, 5]), 'f')).toThrow(/declares 2×2 = 4 values but holds 5/);
    expect(() => parseIdx(idxBytes([4], [1, 2, 3]), 'f')).toThrow(/declares 4 values but holds 3/);
    expect(() => parseIdx(Buffer.from([0, 0, 8, 2, 0, 0]), 'f')).toThrow(/truncated inside its header/);
    writeFileSync(join(dir, 'broken.gz'), gzipSync(idxBytes([3], [1, 2, 3])).subarray(0, 12));
    expect(() => readIdx(join(dir, 'broken.gz'))).toThrow(/not a valid gzip file/);
  });

  it('checks images against labels', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'img'), idxBytes([2, 1, 2], [1, 2, 3, 4]));
    writeFileSync(join(dir, 'lab'), idxBytes([3], [0, 1, 2]));
    writeFileSync(join(dir, 'lab2'), idxBytes([2], [0, 1]));
    expect(() => readIdxSplit(join(dir, 'img'), join(dir, 'lab'))).toThrow(/holds 2 images but .*lab holds 3 labels/);
    expect(() => readIdxSplit(join(dir, 'lab'), join(dir, 'lab'))).toThrow(/should hold images \(3 dimensions/);
    expect(readIdxSplit(join(dir, 'img'), join(dir, 'lab2'))).toMatchObject({ count: 2, height: 1, width: 2 });
  });
});
