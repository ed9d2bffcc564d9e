import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkCheckpointFits, paramsHash, readCheckpoint, slotParam, writeCheckpoint } from '../../src/checkpoint/index.js';
import { decodeSafetensors, encodeSafetensors, f32, toFloat32, type TensorEntry } from '../../src/checkpoint/safetensors.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import { initWeights } from '../../src/weights/init.js';
import { regressionGraph } from './graphs.js';
import { tempDirs } from '../helpers/temp.js';

const tempDir = tempDirs('sofar-ckpt-');

/**
 * A safetensors file assembled by hand from the format's description: u64 LE header length, the JSON
 * header padded with spaces to a multiple of 8, then the raw little-endian data.
 */
function handMade(header: string, data: number[]): Uint8Array {
  const padded = header + ' '.repeat((8 - (header.length % 8)) % 8);
  const out = Buffer.alloc(8 + padded.length + data.length);
  out.writeBigUInt64LE(BigInt(padded.length), 0);
  out.write(padded, 8, 'latin1');
  Buffer.from(data).copy(out, 8 + padded.length);
  return new Uint8Array(out);
}

// 1.0f = 00 00 80 3f, -2.0f = 00 00 00 c0, 0.5f = 00 00 00 3f (IEEE 754, little-endian).
const ONE = [0x00, 0x00, 0x80, 0x3f];
const MINUS_TWO = [0x00, 0x00, 0x00, 0xc0];
const HALF = [0x00, 0x00, 0x00, 0x3f];

describe('safetensors codec', () => {
  it('encodes exactly the bytes of the format', () => {
    const tensors = new Map<string, TensorEntry>([
      ['a', f32([2], Float32Array.of(1, -2))],
      ['b/m', f32([1, 1], Float32Array.of(0.5))],
    ]);
    const expected = handMade(
      '{"__metadata__":{"epoch":"3"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b/m":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]}}',
      [...ONE, ...MINUS_TWO, ...HALF],
    );
    const bytes = encodeSafetensors(tensors, { epoch: '3' });
    expect(Buffer.from(bytes).equals(Buffer.from(expected))).toBe(true);
    expect((8 + Number(Buffer.from(bytes).readBigUInt64LE(0))) % 8).toBe(0);
  });

  it('decodes hand-made files, whatever the order of the header entries', () => {
    const file = decodeSafetensors(
      handMade('{"w":{"dtype":"F32","shape":[1,2],"data_offsets":[4,12]},"b":{"shape":[],"dtype":"F32","data_offsets":[0,4]}}', [...HALF, ...ONE, ...MINUS_TWO]),
    );
    expect(file.metadata).toEqual({});
    expect([...toFloat32('w', file.tensors.get('w')!)]).toEqual([1, -2]);
    expect(file.tensors.get('w')!.shape).toEqual([1, 2]);
    // A scalar: shape [] holds one value.
    expect([...toFloat32('b', file.tensors.get('b')!)]).toEqual([0.5]);
  });

  it('converts F16, BF16 and F64 to float32', () => {
    // F16 1.0 = 0x3c00, -2.0 = 0xc000; BF16 0.5 = 0x3f00; F64 0.25 = 0x3fd0000000000000.
    const file = decodeSafetensors(
      handMade(
        '{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"bf":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]},"d":{"dtype":"F64","shape":[1],"data_offsets":[6,14]}}',
        [0x00, 0x3c, 0x00, 0xc0, 0x00, 0x3f, 0, 0, 0, 0, 0, 0, 0xd0, 0x3f],
      ),
    );
    expect([...toFloat32('h', file.tensors.get('h')!)]).toEqual([1, -2]);
    expect([...toFloat32('bf', file.tensors.get('bf')!)]).toEqual([0.5]);
    expect([...toFloat32('d', file.tensors.get('d')!)]).toEqual([0.25]);
  });

  it('rejects malformed files with a reason', () => {
    const t = (h: string, data: number[]) => () => decodeSafetensors(handMade(h, data));
    expect(() => decodeSafetensors(new Uint8Array(4))).toThrow(/shorter than its 8-byte header length/);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 1000n, true);
    expect(() => decodeSafetensors(huge)).toThrow(/header claims 1000 bytes/);
    expect(t('[1,2]', [])).toThrow(/not a JSON object/);
    expect(t('{"a":', [])).toThrow(/not valid JSON/);
    expect(t('{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}', [0])).toThrow(/unsupported dtype "Q4"/);
    expect(t('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', ONE)).toThrow(/needs 8 bytes, got 4/);
    expect(t('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', [...ONE, ...ONE])).toThrow(/starts at byte 4 of the data, expected 0/);
    expect(t('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', [...ONE, ...ONE])).toThrow(/cover 4 bytes of data but the file holds 8/);
    expect(t('{"__metadata__":{"epoch":3}}', [])).toThrow(/__metadata__ must map names to strings/);
  });

  it('round-trips every float32 bit pattern it is given', () => {
    const values = Float32Array.of(0, -0, 1e-45, 3.4028234663852886e38, -Infinity, NaN, Math.PI);
    const back = toFloat32('x', decodeSafetensors(encodeSafetensors(new Map([['x', f32([7], values)]]))).tensors.get('x')!);
    expect(Buffer.from(back.buffer).equals(Buffer.from(values.buffer))).toBe(true);
  });
});

describe('checkpoints', () => {
  const graph = (() => {
    const b = new GraphBuilder({ name: 'ck', input: [1, 4, 4], classes: 3 });
    const c = b.batchnorm(b.conv(b.input(), { filters: 2, kernel: 3, padding: 'same' }));
    return b.finish(b.dense(b.flatten(c), { units: 3 }));
  })();

  it('write → read gives the same named tensors in the parameters’ shapes, and the metadata', () => {
    const dir = tempDir();
    const weights = initWeights(graph, 5);
    const slots = new Map([...weights].map(([k, v]) => [`${k}/m`, v.map((x) => x / 2)]));
    const path = writeCheckpoint(dir, { graph, weights, slots, step: 42, epoch: 3, meta: { seed: 5, engine: 'tfjs', config: { batchSize: 8 } } });
    expect(path).toBe(join(dir, 'checkpoint.safetensors'));
    // No temporary file is left behind.
    expect(readdirSync(dir)).toEqual(['checkpoint.safetensors']);
    for (const at of [dir, path]) {
      const ck = readCheckpoint(at);
      expect(ck.weights).toEqual(weights);
      expect(ck.slots).toEqual(slots);
      expect(ck.meta).toEqual({ spec: 'ck', paramsHash: paramsHash(graph), seed: 5, engine: 'tfjs', epoch: 3, step: 42, config: { batchSize: 8 } });
      expect(ck.shapes.get('conv/kernel')).toEqual([2, 1, 3, 3]);
      expect(ck.shapes.get('conv/kernel/m')).toEqual([2, 1, 3, 3]);
      expect(ck.shapes.get('bn/moving_variance')).toEqual([2]);
      expect(() => checkCheckpointFits(ck, graph)).not.toThrow();
    }
    // Any safetensors reader sees the names, the metadata and the shapes in the header.
    const bytes = readFileSync(path);
    const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8'));
    expect(header['dense/kernel']).toMatchObject({ dtype: 'F32', shape: [32, 3] });
    expect(header.__metadata__).toMatchObject({ format: 'sofar-checkpoint', version: '1', epoch: '3', step: '42', engine: 'tfjs', spec: 'ck' });
  });

  it('a mid-epoch checkpoint records its position in partial_epoch (snake_case keys; a writer may leave sums out)', () => {
    const dir = tempDir();
    const weights = initWeights(graph, 5);
    const partialEpoch = { lossSum: 12.5, correct: 40, samples: 64, distillationSum: 0.25, flipSum: 0.5, flipSteps: 2 };
    const path = writeCheckpoint(dir, { graph, weights, slots: new Map(), step: 9, epoch: 1, meta: { seed: 5, engine: 'ort', partialEpoch } });
    expect(readCheckpoint(dir).meta.partialEpoch).toEqual(partialEpoch);
    const bytes = readFileSync(path);
    const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8'));
    expect(JSON.parse(header.__metadata__.partial_epoch)).toEqual({ loss_sum: 12.5, correct: 40, samples: 64, distillation_sum: 0.25, flip_sum: 0.5, flip_steps: 2 });
    // Another writer (train.py) that keeps only some sums: the others count as 0.
    const tensors = new Map<string, TensorEntry>([...weights].map(([k, v]) => [k, f32([v.length], v)]));
    writeFileSync(path, encodeSafetensors(tensors, { step: '9', epoch: '1', partial_epoch: '{"loss_sum": 3, "correct": 2, "samples": 4}' }));
    expect(readCheckpoint(dir).meta.partialEpoch).toEqual({ lossSum: 3, correct: 2, samples: 4, distillationSum: 0, flipSum: 0, flipSteps: 0 });
    writeFileSync(path, encodeSafetensors(tensors, { partial_epoch: '{"loss_sum": "x"}' }));
    expect(() => readCheckpoint(dir)).toThrow(/partial_epoch\) is not valid/);
  });

  it('tells slots from parameters by the `<param>/<slot>` naming', () => {
    expect(slotParam('a/b/kernel/momentum')).toBe('a/b/kernel');
    expect(slotParam('a/b/kernel/v')).toBe('a/b/kernel');
    expect(slotParam('a/b/kernel')).toBeNull();
    expect(slotParam('m')).toBeNull();
  });

  it('the parameter hash changes with any name, shape or flag', () => {
    const h = paramsHash(graph);
    expect(h).toMatch(/^[0-9a-f]{16}$/);
    expect(paramsHash(regressionGraph([1, 4, 4], 3))).not.toBe(h);
    const flagged = structuredClone(graph);
    flagged.nodes[1].params[0].binary = true;
    expect(paramsHash(flagged)).not.toBe(h);
    expect(paramsHash(structuredClone(graph))).toBe(h);
  });

  it('reports a missing or corrupt checkpoint clearly', () => {
    const dir = tempDir();
    expect(() => readCheckpoint(dir)).toThrow(/no checkpoint at .*checkpoint\.safetensors/);
    writeFileSync(join(dir, 'checkpoint.safetensors'), 'not a checkpoint');
    expect(() => readCheckpoint(dir)).toThrow(/is not a valid safetensors file/);
  });

  it('reads a file another tool wrote (no SoFAr metadata), checking it by names and shapes', () => {
    const dir = tempDir();
    const weights = initWeights(graph, 1);
    const tensors = new Map<string, TensorEntry>();
    for (const node of graph.nodes) for (const p of node.params) tensors.set(p.name, f32(p.shape, weights.get(p.name)!));
    writeFileSync(join(dir, 'checkpoint.safetensors'), encodeSafetensors(tensors));
    const ck = readCheckpoint(dir);
    expect(ck.meta).toMatchObject({ epoch: 0, step: 0, spec: '(unknown)' });
    expect(ck.meta.paramsHash).toBeUndefined();
    expect(() => checkCheckpointFits(ck, graph)).not.toThrow();
    tensors.delete('bn/gamma');
    writeFileSync(join(dir, 'checkpoint.safetensors'), encodeSafetensors(tensors));
    expect(() => checkCheckpointFits(readCheckpoint(dir), graph)).toThrow(/1 parameter\(s\) missing \(bn\/gamma\)/);
  });
});
