/**
 * SoFAr's own ONNX reader and writer (backends/onnx/protobuf.ts, onnx-messages.ts) against the official
 * onnx package (Debian's python3-onnx, Google's protobuf runtime underneath): a model Python writes
 * (unpacked and packed repeated numbers, negative and 64-bit integers up to INT64_MAX, doubles, a subgraph, Unicode,
 * fields SoFAr does not know) reads as Python wrote it, and what SoFAr writes back Python reads as
 * the same model; SoFAr's exports read the same from Python's serialisation as from SoFAr's. Malformed
 * bytes end in an Error that says what is wrong, never another exception or a hang.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportOnnx } from '../../backends/onnx/index.js';
import { onnx, type GraphProto, type ModelProto } from '../../backends/onnx/proto.js';
import { decodeMessage, encodeMessage } from '../../backends/onnx/protobuf.js';
import { compileFile } from '../../src/compile.js';
import { checkerMissing, CHECKER_PYTHON } from '../helpers/onnx-checker.js';
import { skipWithout } from '../helpers/requirements.js';
import { tempDir } from '../helpers/temp.js';
import { busyWeights } from '../helpers/values.js';

const dir = tempDir('sofar-protobuf-');

/** Runs a Python script with the official onnx package; its stdout. */
function python(script: string, ...args: string[]): string {
  const r = spawnSync(CHECKER_PYTHON, ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return r.stdout.trim();
}

const WRITE_MODEL = `
import sys, onnx, numpy as np
from onnx import helper, TensorProto
branch = helper.make_graph([helper.make_node('Identity', ['a'], ['b'])], 'branch', [], [helper.make_tensor_value_info('b', TensorProto.FLOAT, [1])])
cond = helper.make_node('If', ['c'], ['y'], name='wenn ✓', then_branch=branch, else_branch=branch)
conv = helper.make_node('Conv', ['x', 'w'], ['z'], pads=[-1, 0, 2**40, -2**40], ends=[2**63 - 1, -2**63], alpha=0.5, mode='same', scales=[1.5, -2.25],
                        value=helper.make_tensor('t', TensorProto.INT64, [2], [-3, 4]))
inits = [
    helper.make_tensor('f', TensorProto.FLOAT, [2, 3], [0.5, -1, 2, 3, 4, 5]),
    helper.make_tensor('r', TensorProto.FLOAT, [2], np.array([1.25, -0.5], dtype=np.float32).tobytes(), raw=True),
    helper.make_tensor('i64', TensorProto.INT64, [3], [-1, 2**40, 7]),
    helper.make_tensor('d', TensorProto.DOUBLE, [2], [0.1, -1e300]),
    helper.make_tensor('u64', TensorProto.UINT64, [1], [2**53]),
    helper.make_tensor('umax', TensorProto.UINT64, [1], [2**64 - 1]),
    helper.make_tensor('i32', TensorProto.INT32, [2], [-5, 6]),
]
graph = helper.make_graph([cond, conv], 'g', [helper.make_tensor_value_info('x', TensorProto.FLOAT, ['batch', 3])],
                          [helper.make_tensor_value_info('z', TensorProto.FLOAT, None)], initializer=inits, doc_string='doc')
graph.sparse_initializer.append(helper.make_sparse_tensor(helper.make_tensor('v', TensorProto.FLOAT, [1], [1.0]), helper.make_tensor('ix', TensorProto.INT64, [1], [0]), [4]))
model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17), helper.make_opsetid('ai.sofar', 1)], producer_name='python')
model.ir_version = 8
model.training_info.add().initialization.name = 'unknown to SoFAr'
helper.set_model_props(model, {'key': 'välue ✓'})
open(sys.argv[1], 'wb').write(model.SerializeToString())
`;

/** Python's reading of two files: equal once the first drops what SoFAr does not read? */
const SAME_MODEL = `
import sys, onnx
a, b = onnx.load(sys.argv[1]), onnx.load(sys.argv[2])
a.ClearField('training_info'); a.graph.ClearField('sparse_initializer')
print('same' if a == b else 'different')
`;

const RESERIALISE = `
import sys, onnx
open(sys.argv[2], 'wb').write(onnx.load(sys.argv[1]).SerializeToString())
`;

describe.skipIf(skipWithout(checkerMissing()))('the ONNX codec against the official onnx package', () => {
  it("reads a model Python wrote, field by field, skipping the fields it does not know", () => {
    const file = join(dir, 'python.onnx');
    python(WRITE_MODEL, file);
    const model = onnx.ModelProto.decode(new Uint8Array(readFileSync(file)));
    expect(model).toMatchObject({ irVersion: 8, producerName: 'python', opsetImport: [{ domain: '', version: 17 }, { domain: 'ai.sofar', version: 1 }], metadataProps: [{ key: 'key', value: 'välue ✓' }] });
    const graph = model.graph!;
    expect(graph.name).toBe('g');
    expect(graph.docString).toBe('doc');
    const [cond, conv] = graph.node!;
    expect(cond).toMatchObject({ opType: 'If', name: 'wenn ✓', input: ['c'], output: ['y'] });
    const branch = cond.attribute!.find((a) => a.name === 'then_branch')!;
    expect(branch.type).toBe(onnx.AttributeProto.AttributeType.GRAPH);
    expect(branch.g).toMatchObject({ name: 'branch', node: [{ opType: 'Identity', input: ['a'], output: ['b'] }] });
    const attr = (name: string) => conv.attribute!.find((a) => a.name === name)!;
    expect(attr('pads').ints).toEqual([-1, 0, 2 ** 40, -(2 ** 40)]);
    // INT64_MAX and UINT64_MAX (Slice's "to the end") read as the nearest doubles, and are written back as themselves.
    expect(attr('ends').ints).toEqual([2 ** 63, -(2 ** 63)]);
    expect(attr('alpha').f).toBe(0.5);
    expect(new TextDecoder().decode(attr('mode').s)).toBe('same');
    expect(attr('scales').floats).toEqual([1.5, -2.25]);
    expect(attr('value').t).toMatchObject({ dataType: onnx.TensorProto.DataType.INT64, dims: [2], int64Data: [-3, 4] });
    const init = new Map(graph.initializer!.map((t) => [t.name, t]));
    expect(init.get('f')).toMatchObject({ dims: [2, 3], dataType: 1, floatData: [0.5, -1, 2, 3, 4, 5] });
    expect(Array.from(new Float32Array(Uint8Array.from(init.get('r')!.rawData!).buffer))).toEqual([1.25, -0.5]);
    expect(init.get('i64')!.int64Data).toEqual([-1, 2 ** 40, 7]);
    expect(init.get('d')!.doubleData).toEqual([0.1, -1e300]);
    expect(init.get('u64')!.uint64Data).toEqual([2 ** 53]);
    expect(init.get('umax')!.uint64Data).toEqual([2 ** 64]);
    expect(init.get('i32')!.int32Data).toEqual([-5, 6]);
    expect(graph.input![0].type!.tensorType!.shape!.dim).toEqual([{ dimParam: 'batch' }, { dimValue: 3 }]);
    expect(graph.output![0].type!.tensorType).toEqual({ elemType: 1 });
    // What SoFAr writes back, Python reads as the same model (less what SoFAr does not read).
    const back = join(dir, 'back.onnx');
    writeFileSync(back, onnx.ModelProto.encode(model));
    expect(python(SAME_MODEL, file, back)).toBe('same');
  });

  it("SoFAr's exports read the same from Python's serialisation as from SoFAr's own", () => {
    const graph = compileFile('specs/fashion/reactnet-small.sofar').graph!;
    for (const options of [{}, { binaryOps: true }, { integer: true, packBits: false }]) {
      const ours = join(dir, 'ours.onnx');
      const theirs = join(dir, 'theirs.onnx');
      writeFileSync(ours, exportOnnx(graph, busyWeights(graph, 2), options));
      python(RESERIALISE, ours, theirs);
      const read = (path: string) => onnx.ModelProto.decode(new Uint8Array(readFileSync(path)));
      expect(read(theirs), JSON.stringify(options)).toEqual(read(ours));
    }
  });
});

describe('the ONNX codec on malformed bytes', () => {
  const graph = compileFile('specs/fashion/bireal-small.sofar').graph!;
  const bytes = exportOnnx(graph, busyWeights(graph, 1), { binaryOps: true }).subarray(0, 4000);

  /** The error decoding throws, or null where the bytes happen to be a message. */
  const decodeError = (b: Uint8Array): Error | null => {
    try {
      onnx.ModelProto.decode(b);
      return null;
    } catch (e) {
      return e as Error;
    }
  };

  it('a file cut short anywhere is refused with a plain Error that says why', () => {
    let refused = 0;
    for (let n = 1; n < bytes.length; n += 7) {
      const e = decodeError(bytes.subarray(0, n));
      if (!e) continue;
      refused++;
      expect(e.constructor, `cut at ${n}`).toBe(Error);
      expect(e.message, `cut at ${n}`).toMatch(/truncated varint|runs past the end/);
    }
    expect(refused).toBeGreaterThan(bytes.length / 7 - 10);
  });

  it('wrong wire types, overlong varints, unclosed groups and deep nesting are refused', () => {
    expect(decodeError(Uint8Array.of(0x3a, 0x01, 0x00))?.message).toMatch(/^illegal tag: field no 0/); // a graph (field 7) of one byte, 0x00
    expect(decodeError(Uint8Array.of(0x38, 0x01))?.message).toMatch(/ModelProto.graph: wire type 0 for a message/);
    expect(decodeError(Uint8Array.of(0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01))?.message).toMatch(/varint longer than 10 bytes/);
    expect(decodeError(Uint8Array.of(0x0b))?.message).toBe('ModelProto.irVersion: wire type 3, expected 0');
    expect(decodeError(Uint8Array.of(0x7b))?.message).toMatch(/runs past the end/); // field 15 (unknown), a group never closed
    expect(decodeError(Uint8Array.of(0x7b, 0x08, 0x01, 0x7c, 0x08, 0x05))).toBeNull(); // ... and one closed: skipped
    expect(onnx.ModelProto.decode(Uint8Array.of(0x7b, 0x08, 0x01, 0x7c, 0x08, 0x05)).irVersion).toBe(5);
    expect(decodeError(Uint8Array.of(0x7e))?.message).toMatch(/illegal tag: field no 15 wire type 6/);
    expect(decodeError(Uint8Array.of(0x12, 0x05, 0x61))?.message).toMatch(/runs past the end/);
    let deep: GraphProto = { name: 'leaf' };
    for (let i = 0; i < 30; i++) deep = { node: [{ attribute: [{ name: 'g', g: deep }] }] };
    expect(decodeError(onnx.ModelProto.encode({ graph: deep } as ModelProto))?.message).toMatch(/nested more than 64 deep/);
  });

  it('writes numbers as the wire format says: negative int64 in 10 bytes, fields in number order, packed runs', () => {
    const schemas = { M: [{ no: 2, name: 'b', type: 'int64' as const }, { no: 1, name: 'a', type: 'int64' as const, repeated: true, packed: true }] };
    const b = encodeMessage(schemas, 'M', { a: [1, 300], b: -1 });
    expect(Array.from(b)).toEqual([0x0a, 0x03, 0x01, 0xac, 0x02, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect(decodeMessage(schemas, 'M', b)).toEqual({ a: [1, 300], b: -1 });
    // The same repeated field unpacked (one tag a value) reads the same.
    expect(decodeMessage(schemas, 'M', Uint8Array.of(0x08, 0x01, 0x08, 0xac, 0x02))).toEqual({ a: [1, 300] });
  });
});
