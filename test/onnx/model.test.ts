/**
 * What an exported file is, apart from its numbers: valid for the official ONNX checker in every
 * variant, opset 17 / IR 8, named after the graph, with its metadata.
 */
import { describe, expect, it } from 'vitest';
import { exportOnnx } from '../../backends/onnx/index.js';
import { IR_VERSION, OPSET, onnx, type ValueInfoProto } from '../../backends/onnx/proto.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import type { Graph } from '../../src/graph/types.js';
import { summarize } from '../../src/cost.js';
import { initWeights } from '../../src/weights/init.js';
import { checkerMissing, checkOnnx } from '../helpers/onnx-checker.js';
import { skipWithout } from '../helpers/requirements.js';

type ValueInfo = ValueInfoProto;

const span = (line: number) => ({ file: 'specs/tiny.sofar', line, column: 3, offset: 0, length: 4 });

/** A graph with every node kind. */
function everyKind(): Graph {
  const b = new GraphBuilder({ name: 'every_kind', input: [3, 8, 8], classes: 4, binarize: { activations: 'approx_sign', weights: 'magnitude_aware_sign' } });
  let t = b.relu(b.batchnorm(b.conv(b.input(), { filters: 8, kernel: 3, source: span(2) })));
  t = b.maxpool(t, { kernel: 2 });
  t = b.residual(t, (z) => b.batchnorm(b.bconv(z, { filters: 8, kernel: 3, source: span(5) })), {
    shortcut: (z) => b.avgpool(z, { kernel: 3, stride: 1, padding: 'same' }),
  });
  t = b.scope('stage2', () =>
    b.fractal(t, { columns: 2, join: 'mean' }, (z) => b.prelu(b.batchnorm(b.bconv(z, { filters: 8, kernel: 3 })))),
  );
  t = b.denseShortcut(t, (z) => b.hardtanh(b.batchnorm(b.bconv(z, { filters: 4, kernel: 3 }))));
  const v = b.dropout(b.globalAvgpool(t), { rate: 0.2 });
  const f = b.flatten(b.sign(b.maxpool(t, { kernel: 2 })));
  const g = b.finish(b.dense(b.concat([v, b.bdense(f, { units: 6 })]), { units: 4 }));
  expect(b.diagnostics).toEqual([]);
  return g;
}

describe('exported model', () => {
  const graph = everyKind();
  const weights = initWeights(graph, 1);
  const kinds = new Set(graph.nodes.map((n) => n.op));

  it('covers every node kind in this test graph', () => {
    expect(kinds.size).toBe(16);
  });

  it.skipIf(skipWithout(checkerMissing()))('passes the official ONNX checker (full_check) in every variant', () => {
    const result = checkOnnx([
      exportOnnx(graph, weights),
      exportOnnx(graph, weights, { packBits: false }),
      exportOnnx(graph, weights, { integer: true }),
      exportOnnx(graph, weights, { integer: true, packBits: false }),
    ]);
    expect(result.message).toBe('ok');
    expect(result.ok).toBe(true);
  });

  it.skipIf(skipWithout(checkerMissing()))('the checker helper rejects a broken model', () => {
    const model = onnx.ModelProto.decode(exportOnnx(graph, weights));
    model.graph!.node!.find((n) => n.opType === 'Conv')!.input![1] = 'no_such_value';
    const result = checkOnnx([onnx.ModelProto.encode(model)]);
    expect(result.ok).toBe(false);
    expect(result.message).toMatch(/no_such_value/);
  });

  it('targets opset 17 / IR 8 with an `input` [batch, C, H, W] and `logits` [batch, classes]', () => {
    const model = onnx.ModelProto.decode(exportOnnx(graph, weights));
    expect(Number(model.irVersion)).toBe(IR_VERSION);
    expect(model.opsetImport!.map((o) => [o.domain, Number(o.version)])).toEqual([['', OPSET]]);
    const dims = (v: ValueInfo) => v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
    expect(model.graph!.input!.map((v) => v.name)).toEqual(['input']);
    expect(dims(model.graph!.input![0])).toEqual(['batch', 3, 8, 8]);
    expect(model.graph!.output!.map((v) => v.name)).toEqual(['logits']);
    expect(dims(model.graph!.output![0])).toEqual(['batch', 4]);
  });

  it('names parameters, values and nodes after the graph, with doc strings giving the source', () => {
    const model = onnx.ModelProto.decode(exportOnnx(graph, weights));
    const inits = new Set(model.graph!.initializer!.map((t) => t.name));
    for (const p of graph.nodes.flatMap((n) => n.params)) expect(inits.has(p.binary ? `${p.name}/bits` : p.name)).toBe(true);
    const byOutput = new Map(model.graph!.node!.map((n) => [n.output![0], n]));
    for (const node of graph.nodes.filter((n) => n.op !== 'input')) {
      const onnxNode = byOutput.get(node.name);
      expect(onnxNode, node.name).toBeDefined();
      expect(onnxNode!.name).toBe(node.name);
      expect(onnxNode!.docString).toContain(node.name);
    }
    expect(byOutput.get('bconv')!.docString).toContain('specs/tiny.sofar:5:3');
    const join = graph.nodes.find((n) => n.op === 'join')!;
    expect(join.name).toMatch(/^stage2\/fractal\//);
    expect(byOutput.get(join.name)!.opType).toBe('Mean');
  });

  it('records the spec name, the SoFAr version, the summary and the variant in the metadata', () => {
    const meta = (bytes: Uint8Array) => Object.fromEntries(onnx.ModelProto.decode(bytes).metadataProps!.map((p) => [p.key, p.value]));
    const m = meta(exportOnnx(graph, weights, { metadata: { 'sofar.seed': '1' } }));
    expect(m['sofar.spec']).toBe('every_kind');
    expect(m['sofar.version']).toBe('0.1.0'); // package.json
    expect(m['sofar.variant']).toBe('float');
    expect(m['sofar.seed']).toBe('1');
    expect(JSON.parse(m['sofar.summary'])).toEqual(JSON.parse(JSON.stringify(summarize(graph))));
    expect(meta(exportOnnx(graph, weights, { integer: true, packBits: false }))['sofar.variant']).toBe('int-unpacked');
  });

  it('refuses weights that do not fit the graph, naming the parameter', () => {
    const short = new Map(weights);
    short.set('bconv/kernel', new Float32Array(3));
    expect(() => exportOnnx(graph, short)).toThrow(/bconv\/kernel.*576/);
    const missing = new Map(weights);
    missing.delete('bn/gamma');
    expect(() => exportOnnx(graph, missing)).toThrow(/bn\/gamma/);
  });

  it('refuses a graph the checker refuses, in the checker’s words', () => {
    const b = new GraphBuilder({ name: 'bad', input: [1, 8, 8], classes: 2 });
    const bad = b.finish(b.dense(b.globalAvgpool(b.batchnorm(b.input(), { momentum: 7 })), { units: 2 }));
    expect(() => exportOnnx(bad, weights)).toThrow(/bn: attribute 'momentum' must be a number in \[0, 1\), not 7/);
  });
});
