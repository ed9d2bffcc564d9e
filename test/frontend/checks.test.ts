/**
 * Every checking rule: each bad spec must fail with the right code, at the right line and column, with
 * a hint — and the corrected spec must pass, so no rule fires on good input.
 */
import { describe, expect, it } from 'vitest';
import { check } from '../../src/check.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import { errorsOf, graphOf, model, position } from './helpers.js';
import { resolveQuantizer } from '../../src/quantizers.js';
import { SofarError } from '../../src/diagnostics.js';
import { initWeights } from '../../src/weights/init.js';

/** Asserts one error with `code`, located at `needle` (the first occurrence in the text). */
function expectError(text: string, code: string, needle: string, options = {}) {
  const errors = errorsOf(text, options);
  const e = errors.find((d) => d.code === code);
  expect(e, `expected a '${code}' error, got: ${errors.map((d) => `${d.code}: ${d.message}`).join('; ')}`).toBeDefined();
  expect({ line: e!.span?.line, column: e!.span?.column }).toEqual(position(text, needle));
  expect(e!.hint ?? '').not.toBe('');
  return e!;
}

const head = '  conv 3x3 8\n';
const tail = '  global_avgpool\n  dense 10';

describe('shapes', () => {
  it('a residual add whose shortcut and body differ', () => {
    const bad = model(`  block u(ch, s = 1) = residual() { bconv 3x3 ch /s; bn }\n${head}  u(16, s = 2)\n${tail}`);
    const e = expectError(bad, 'shape-mismatch', 'u(16, s = 2)');
    expect(e.message).toContain('8×16×16 from the shortcut and 16×8×8 from the body');
    graphOf(bad.replace('residual()', 'residual(shortcut = p(ch, s))').replace('  u(16', '  block p(ch, s) { avgpool 2x2 /s; conv 1x1 ch }\n  u(16'));
  });

  it('a fractal join whose columns end in different shapes', () => {
    const bad = model(`${head}  fractal(columns = 2) { conv 3x3 8 /2 }\n${tail}`);
    const e = expectError(bad, 'shape-mismatch', 'fractal(');
    expect(e.message).toContain('columns 2, 1');
    graphOf(bad.replace('conv 3x3 8 /2 }', 'conv 3x3 8 }'));
  });

  it('a dense shortcut whose body changes height and width', () => {
    const bad = model(`${head}  concat { maxpool 2x2 }\n${tail}`);
    expectError(bad, 'shape-mismatch', 'concat {');
    graphOf(bad.replace('maxpool 2x2', 'conv 3x3 4'));
  });

  it('a model whose output is not one score per class', () => {
    const bad = model(`${head}  global_avgpool\n  dense 7`);
    const e = expectError(bad, 'output-shape', 'dense 7');
    expect(e.message).toBe('the model ends in 7 but classes = 10');
  });

  it('a dense layer on a feature map, and a conv on a vector', () => {
    expectError(model(`${head}  dense 10`), 'shape', 'dense 10');
    expectError(model(`${head}  global_avgpool\n  conv 3x3 4\n  dense 10`), 'shape', 'conv 3x3 4');
  });
});

describe('arguments a backend would refuse', () => {
  it('a kernel or pooling window of size 0', () => {
    expect(expectError(model(`  conv 0x3 8\n${tail}`), 'bad-argument', '0x3').message).toBe("conv's kernel must be at least 1 in each dimension, got 0x3");
    expectError(model(`${head}  maxpool 2x0\n${tail}`), 'bad-argument', '2x0');
    graphOf(model(`  conv 1x3 8\n  maxpool 2x1\n${tail}`));
  });

  it('pooling padding not smaller than the window (ONNX: "Pad should be smaller than kernel")', () => {
    const bad = model(`${head}  avgpool 2x2 padding=2\n${tail}`);
    expect(expectError(bad, 'padding', 'avgpool').message).toBe('avgpool: padding 2 is not smaller than the 2x2 window');
    expectError(model(`${head}  maxpool 3x1 padding=1\n${tail}`), 'padding', 'maxpool');
    graphOf(bad.replace('padding=2', 'padding=1'));
    graphOf(bad.replace('padding=2', 'padding=same'));
    const b = new GraphBuilder({ name: 'g', input: [3, 8, 8], classes: 3 });
    const g = b.finish(b.dense(b.globalAvgpool(b.maxpool(b.input(), { kernel: 2, padding: 2 })), { units: 3 }));
    expect(check(g).map((d) => d.code)).toEqual(['padding']);
  });

  it("hardtanh's min above its max (tfjs clip needs min <= max)", () => {
    const bad = model(`${head}  hardtanh min=1 max=-1\n${tail}`);
    expect(expectError(bad, 'bad-argument', 'hardtanh').message).toBe('hardtanh: min 1 is above max -1');
    graphOf(bad.replace('min=1', 'min=-1'));
    graphOf(bad.replace('min=1 max=-1', 'min=0.5 max=0.5'));
  });
});

describe('precision', () => {
  it('a binary kernel on a real input is legitimate when asked for (input_quantizer = none: BinaryAlexNet)', () => {
    const g = graphOf(model(`${head}  bconv 3x3 8 input_quantizer=none\n${tail}`));
    const conv = g.nodes.filter((n) => n.op === 'conv')[1];
    expect(conv.op === 'conv' && conv.attrs.kernelQuantizer?.name).toBe('ste_sign');
    expect(g.nodes[conv.inputs[0]].op).toBe('conv');
    expect(g.nodes.some((n) => n.op === 'quantize')).toBe(false);
  });

  it('without an activation policy, a binary conv on a real input must say so (no silent real input)', () => {
    const bad = model(`${head}  bconv 3x3 8\n${tail}`, 'input 3x16x16\n  classes 10\n  binarize weights = ste_sign');
    expect(expectError(bad, 'no-quantizer', 'bconv').message).toBe('a binary conv on a real-valued input needs an input quantizer');
    graphOf(bad.replace('bconv 3x3 8', 'bconv 3x3 8 input_quantizer=none'));
  });

  it('a pad value on a real input is refused by the checker, for graphs built in TypeScript too', () => {
    const b = new GraphBuilder({ name: 'g', input: [3, 8, 8], classes: 2, binarize: { weights: 'ste_sign' } });
    const x = b.bconv(b.input(), { filters: 2, kernel: 3, inputQuantizer: 'none' });
    expect(check(b.finish(b.dense(b.globalAvgpool(x), { units: 2 })))).toEqual([]);
    const y = b.bconv(b.input(), { filters: 2, kernel: 3, inputQuantizer: 'none', padValue: 1, name: 'padded' });
    const diagnostics = check(b.finish(b.dense(b.globalAvgpool(y), { units: 2 })));
    expect(diagnostics.map((d) => [d.code, d.message])).toEqual([['precision', 'padded: pad value 1 pads the real-valued output of input']]);
  });
});

describe('joins of graphs built in TypeScript (or read from JSON)', () => {
  it('an n-ary add, a multiply and an add_into whose inputs do not fit', () => {
    const b = new GraphBuilder({ name: 'g', input: [4, 8, 8], classes: 2 });
    const x = b.input();
    const wide = b.conv(x, { filters: 8, kernel: 1, name: 'wide' });
    const small = b.conv(x, { filters: 4, kernel: 1, stride: 2, name: 'small' });
    const sum = b.sum([x, x, wide], { name: 'sum' });
    const scaled = b.multiply(sum, b.globalAvgpool(wide), { name: 'scaled' });
    const into = b.addInto(scaled, small, { name: 'into' });
    const g = b.finish(b.dense(b.globalAvgpool(into), { units: 2 }));
    expect(check(g).map((d) => d.message)).toEqual([
      'sum: the add gets 4×8×8, 4×8×8, 8×8×8: summed inputs must have one shape',
      'scaled: multiply scales 4×8×8 by 8',
      'into: cannot add 4×4×4 into channels 0… of 4×8×8',
    ]);
  });

  it('the same inputs that fit pass', () => {
    const b = new GraphBuilder({ name: 'g', input: [4, 8, 8], classes: 2 });
    const x = b.input();
    const sum = b.sum([x, x, b.conv(x, { filters: 4, kernel: 1 })]);
    const scaled = b.multiply(sum, b.sigmoid(b.globalAvgpool(sum)));
    const into = b.addInto(scaled, b.conv(scaled, { filters: 2, kernel: 3 }));
    expect(into.shape).toEqual([4, 8, 8]);
    expect(check(b.finish(b.dense(b.globalAvgpool(into), { units: 2 })))).toEqual([]);
  });
});

describe('binary layers', () => {
  it('a weight-only quantizer used on activations is named as such', () => {
    expect(resolveQuantizer('magnitude_aware_sign', {}, 'activation')).toMatchObject({ ok: false, message: "'magnitude_aware_sign' is not an activation quantizer" });
  });

  it('the builder, too, refuses a bdense or bconv without a weight quantizer', () => {
    const b = new GraphBuilder({ name: 'g', input: [3, 8, 8], classes: 2, binarize: { activations: 'ste_sign' } });
    b.bdense(b.globalAvgpool(b.bconv(b.input(), { filters: 2, kernel: 3 })), { units: 2 });
    expect(b.diagnostics.map((d) => d.message)).toEqual(['a binary conv needs a weight quantizer', 'a binary dense layer needs a weight quantizer']);
  });

  it('bdense, like bconv, needs a weight quantizer: from the layer or the binarize policy', () => {
    const real = 'input 3x16x16\n  classes 10';
    const bad = model(`${head}  global_avgpool\n  bdense 10 input_quantizer=ste_sign`, real);
    expect(expectError(bad, 'no-quantizer', 'bdense').message).toBe('a binary dense layer needs a weight quantizer');
    expect(expectError(model(`${head}  bconv 3x3 8\n${tail}`, real), 'no-quantizer', 'bconv').message).toBe('a binary conv needs a weight quantizer');
    // Real weights on a binary input are asked for explicitly, and legitimate.
    const realWeights = graphOf(model(`${head}  global_avgpool\n  bdense 10 kernel_quantizer=none`)).nodes.at(-1)!;
    expect(realWeights.op === 'dense' && realWeights.attrs.kernelQuantizer).toBe(null);
    expect(realWeights.params.every((p) => !p.binary)).toBe(true);
    const dense = graphOf(bad.replace('input_quantizer', 'kernel_quantizer=ste_sign input_quantizer')).nodes.at(-1)!;
    expect(dense.op === 'dense' && dense.attrs.kernelQuantizer?.name).toBe('ste_sign');
    graphOf(model(`${head}  global_avgpool\n  stage s { binarize weights = magnitude_aware_sign\n bdense 10 input_quantizer=ste_sign }`, real));
    expectError(model(`${head}  stage s { binarize weights = ste_sign\n relu }\n  global_avgpool\n  bdense 10 input_quantizer=ste_sign`, real), 'no-quantizer', 'bdense');
  });
});

describe('names and arity', () => {
  it('unknown layers, blocks, variables and quantizers, with suggestions', () => {
    expect(expectError(model(`${head}  reluu\n${tail}`), 'unknown-name', 'reluu').hint).toBe("did you mean 'relu'?");
    expect(expectError(model(`  let width = 4\n  conv 3x3 widht\n${tail}`), 'unknown-name', 'widht').hint).toBe("did you mean 'width'?");
    expect(expectError(model(`${head}  bconv 3x3 8 input_quantizer=aprox_sign\n${tail}`), 'unknown-quantizer', 'aprox_sign').hint).toContain('approx_sign');
    expect(expectError(model(`${head}  conv 3x3 8 strid=2\n${tail}`), 'unknown-name', 'strid').hint).toBe("did you mean 'stride'?");
    expect(expectError(model(`  block u(ch) { conv 3x3 ch }\n${head}  u(wdith = 3)\n${tail}`), 'unknown-name', 'wdith').hint).toBe('its parameters: ch');
  });

  it('wrong arity: too many arguments, missing required ones, repeated ones', () => {
    const defs = '  block u(ch, k = 3) { conv k ch }\n';
    expect(expectError(model(`${defs}${head}  u(4, 3, 2)\n${tail}`), 'arity', '2)').message).toBe("block 'u' takes 2 arguments, got 3");
    expectError(model(`${defs}${head}  u()\n${tail}`), 'arity', 'u()');
    expectError(model(`${defs}${head}  u(4, k = 1, k = 2)\n${tail}`), 'duplicate', 'k = 2');
    expectError(model(`${head}  conv 3x3\n${tail}`), 'arity', 'conv 3x3\n  global');
    expectError(model(`${head}  relu 3\n${tail}`), 'arity', '3\n');
    expectError(model(`${head}  fractal(columns = 2) { relu }\n  fractal() { relu }\n${tail}`), 'arity', 'fractal()');
  });

  it('a quantizer used for the wrong role or with an unknown argument', () => {
    expectError(model(`${head}  bconv 3x3 8 kernel_quantizer=approx_sign\n${tail}`), 'unknown-quantizer', 'approx_sign');
    expectError(model(`${head}  bconv 3x3 8 input_quantizer=ste_sign(beta=2)\n${tail}`), 'unknown-quantizer', 'ste_sign(beta');
  });
});

describe('hints', () => {
  const cases: [string, string, string, string][] = [
    [`${head}  conv 3x3 (8 / (2 - 2))\n${tail}`, 'arithmetic', '(2 - 2)', 'this divisor is 0 here; guard it, e.g. (c // g if g > 0 else c)'],
    [`${head}  conv 3x3 "eight"\n${tail}`, 'type', '"eight"', 'write numbers in digits and without quotes, e.g. 8'],
    [`${head}  conv 3x3 8.5\n${tail}`, 'type', '8.5', 'round it with round(x), floor(x) or ceil(x)'],
    [`${head}  conv 3x3 (1 - 1)\n${tail}`, 'bad-argument', '(1 - 1)', 'filters takes a whole number ≥ 1 — output channels'],
    [`${head}  conv 3x3 8 stride=(0)\n${tail}`, 'bad-argument', '(0)', 'stride takes a whole number ≥ 1, or two like 3x3 — stride (also written /2); default 1'],
    [`${head}  fractal(columns = 0) { relu }\n${tail}`, 'bad-argument', '0)', 'columns takes a whole number ≥ 1 — number of columns C'],
    [`${head}  dropout 1.5\n${tail}`, 'bad-argument', '1.5', 'rate takes a number from 0 up to (not including) 1 — drop probability in [0, 1)'],
    [`${head}  conv 3x3 8 padding="same"\n${tail}`, 'bad-argument', '"same"', 'write it without quotes: padding=same'],
    [`${head}  fractal(columns = 2, join = avg) { relu }\n${tail}`, 'bad-argument', 'avg', 'join = mean averages the columns (FractalNet, the default); sum adds them, max takes the largest, concat stacks their channels'],
    [`${head}  fractal(columns = 2, join = "max") { relu }\n${tail}`, 'bad-argument', '"max"', 'write it without quotes: join = max'],
    [`${head}  conv 3x3 8 init=kaiming\n${tail}`, 'bad-argument', 'kaiming', "initialisers: glorot_normal, glorot_uniform, he_normal, he_uniform, zeros, ones (he_* are Kaiming's, glorot_* Xavier's)"],
    [`${head}  conv 3x3 8 init=he_normall\n${tail}`, 'bad-argument', 'he_normall', "did you mean 'he_normal'?"],
    [`  let depth = 2\n${head}  conv 3x3 zz\n${tail}`, 'unknown-name', 'zz', 'names here: depth, channels, height, width; let zz = ... defines it'],
  ];
  for (const [body, code, needle, hint] of cases) {
    it(`${code} at ${needle}`, () => expect(expectError(model(body), code, needle).hint).toBe(hint));
  }

  it('messages read well', () => {
    expect(expectError(model(`${head}  conv 3x3 8 init=kaiming\n${tail}`), 'bad-argument', 'kaiming').message).toBe("unknown initialiser 'kaiming'");
  });
});

describe('structure', () => {
  it('a block that calls itself, directly or through another block', () => {
    const direct = model(`  block a(c) { conv 3x3 c; a(c) }\n${head}  a(4)\n${tail}`);
    expect(expectError(direct, 'recursion', 'a(c) }').message).toBe("block 'a' calls itself (a → a)");
    const mutual = model(`  block a(c) { b(c) }\n  block b(c) { a(c) }\n${head}  a(4)\n${tail}`);
    expect(expectError(mutual, 'recursion', 'a(c) }').message).toBe("block 'a' calls itself (a → b → a)");
  });

  it('a declared fractal depth that differs from the expansion', () => {
    const e = expectError(model(`${head}  fractal(columns = 3, depth = 8) { conv 3x3 8 }\n${tail}`), 'depth-mismatch', '8)');
    expect(e.message).toBe('declared depth 8 does not match the expansion: 3 columns give a deepest path of 4 units');
    expect(e.hint).toBe('the deepest path is 2^(columns-1); use depth = 4, or columns = 4 for a depth of 8');
    const odd = expectError(model(`${head}  fractal(columns = 3, depth = 6) { conv 3x3 8 }\n${tail}`), 'depth-mismatch', '6)');
    expect(odd.hint).toBe('the deepest path is 2^(columns-1); use depth = 4 (no number of columns gives a depth of 6: depths are powers of 2)');
    graphOf(model(`${head}  fractal(columns = 4, depth = 8) { conv 3x3 8 }\n${tail}`));
  });

  it('expansions beyond the node budget are refused quickly, and the budget can be raised', () => {
    const huge = model(`${head}  fractal(columns = 40) { conv 3x3 8 }\n${tail}`);
    const t0 = performance.now();
    expect(expectError(huge, 'node-budget', 'fractal(').message).toBe('expanding this exceeds the node budget of 1,000,000 nodes');
    expectError(model(`${head}  relu * 2000000\n${tail}`), 'node-budget', 'relu');
    expect(performance.now() - t0).toBeLessThan(2000);
    const medium = model(`${head}  fractal(columns = 6) { conv 3x3 8 }\n${tail}`);
    expectError(medium, 'node-budget', 'fractal(', { nodeBudget: 50 });
    expect(graphOf(medium, { nodeBudget: 100 }).nodes.length).toBeLessThanOrEqual(100);
  });

  it('duplicate models; a setting in error is not reported again as missing', () => {
    const twice = 'model m {\n  input 3x8x8\n  classes 2\n  global_avgpool\n}\nmodel m {\n  input 1x8x8\n  classes 2\n  global_avgpool\n}\n';
    expect(expectError(twice, 'duplicate', 'm {\n  input 1x8x8').hint).toBe('the first definition is at line 1');
    expect(errorsOf(twice)).toHaveLength(1);
    expect(errorsOf(twice, { model: 'm' })).toHaveLength(1);
    const zero = 'model m {\n  input 0x28x28\n  classes 10\n  global_avgpool\n  dense 10\n}\n';
    expect(errorsOf(zero).map((d) => d.code)).toEqual(['bad-argument']);
  });

  it('duplicate blocks, blocks named like layers, and missing settings', () => {
    expectError(model(`  block u(c) { relu }\n  block u(c) { bn }\n${head}${tail}`), 'duplicate', 'u(c) { bn');
    expectError(model(`  block conv(c) { relu }\n${head}${tail}`), 'duplicate', 'conv(c)');
    expectError('model m {\n  classes 10\n  relu\n}\n', 'missing-setting', 'm {');
    expectError(model(`${head}  stage s { classes 3 }\n${tail}`), 'misplaced', 'classes 3');
  });
});

describe('graphs from the API meet the same rules', () => {
  it('check() applies the attribute schema and the input/classes sizes to builder graphs', () => {
    const b = new GraphBuilder({ name: 'v', input: [1, 8, 8], classes: 10 });
    const g = b.finish(b.dense(b.globalAvgpool(b.conv(b.input(), { kernel: 3, filters: -2 })), { units: 10 }));
    expect(check(g).map((d) => d.message)).toContainEqual(expect.stringMatching(/conv: attribute 'filters' must be a whole number ≥ 1, not -2/));
    const bn = new GraphBuilder({ name: 'v', input: [1, 8, 8], classes: 2.5 });
    const h = bn.finish(bn.dense(bn.globalAvgpool(bn.batchnorm(bn.input(), { epsilon: -1 })), { units: 2 }));
    expect(check(h).map((d) => d.message)).toEqual(['classes must be a whole number ≥ 1, not 2.5', "bn: attribute 'epsilon' must be a number > 0, not -1", 'the model ends in 2 but classes = 2.5']);
  });

  it('check() reports two nodes of one name; finish() returns a graph later building does not change', () => {
    const b = new GraphBuilder({ name: 'v', input: [1, 8, 8], classes: 2 });
    const x = b.input();
    const y = b.scope('a/b', () => b.conv(x, { kernel: 3, filters: 2 }));
    const z = b.scope('a', () => b.scope('b', () => b.conv(y, { kernel: 3, filters: 2 })));
    const g = b.finish(b.dense(b.globalAvgpool(z), { units: 2 }));
    expect(check(g).map((d) => [d.code, d.message])).toEqual([['duplicate', 'a/b/conv: another node has this name']]);
    const size = g.nodes.length;
    b.relu(z);
    expect(g.nodes).toHaveLength(size);
  });

  it('initWeights refuses a graph the checker refuses (exportOnnx too: test/onnx/model.test.ts)', () => {
    const b = new GraphBuilder({ name: 'v', input: [1, 8, 8], classes: 2 });
    const g = b.finish(b.dense(b.globalAvgpool(b.batchnorm(b.input(), { epsilon: -1 })), { units: 2 }));
    expect(() => initWeights(g, 0)).toThrow(SofarError);
    expect(() => initWeights(g, 0)).toThrow(/bn: attribute 'epsilon' must be a number > 0, not -1/);
    // A graph that ends before its classifier is a feature extractor, not an error, for the backends.
    const features = new GraphBuilder({ name: 'f', input: [1, 8, 8], classes: 10 });
    expect(initWeights(features.finish(features.conv(features.input(), { kernel: 3, filters: 4 })), 0).size).toBe(1);
  });
});
