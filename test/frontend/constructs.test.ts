/**
 * The constructs today's binary nets need (issue 20) and the language mends of issue 25: for each, the
 * elaborated graph (node kinds, shapes, parameters, names) and a located error for each misuse.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compile.js';
import { graphFromJson, graphToJson } from '../../src/graph/json.js';
import type { Graph, GraphNode, NodeOf, OpKind } from '../../src/graph/types.js';
import { errorsOf, graphOf, model, position } from './helpers.js';

/** The one error with `code`, located at the first occurrence of `needle`, with a hint. */
function errorAt(text: string, code: string, needle: string) {
  const errors = errorsOf(text);
  const e = errors.find((d) => d.code === code);
  expect(e, `expected a '${code}' error, got: ${errors.map((d) => `${d.code}: ${d.message}`).join('; ')}`).toBeDefined();
  expect({ line: e!.span?.line, column: e!.span?.column }).toEqual(position(text, needle));
  expect(e!.hint ?? '').not.toBe('');
  return e!;
}

const byName = (g: Graph, name: string): GraphNode => {
  const node = g.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`no node ${name}; nodes: ${g.nodes.map((n) => n.name).join(', ')}`);
  return node;
};
function nodeOf<K extends OpKind>(g: Graph, name: string, op: K): NodeOf<K> {
  const node = byName(g, name);
  expect(node.op).toBe(op);
  return node as NodeOf<K>;
}
const param = (node: GraphNode, role: string) => node.params.find((p) => p.role === role);
const real = 'input 3x16x16\n  classes 10';
const tail = '  global_avgpool\n  dense 10';

describe('convolutions', () => {
  it('dwconv: groups = channels, filters = channels × multiplier, real by default', () => {
    const g = graphOf(model(`  conv 3x3 8\n  dwconv 3x3 /2\n  dwconv 5x5 multiplier = 2 padding = valid\n${tail}`, real));
    const a = nodeOf(g, 'dwconv', 'conv');
    expect(a.attrs).toMatchObject({ filters: 8, groups: 8, kernel: [3, 3], stride: [2, 2], kernelQuantizer: null, padValue: 0 });
    expect(a.shape).toEqual([8, 8, 8]);
    expect(param(a, 'kernel')).toMatchObject({ shape: [8, 1, 3, 3], trainable: true, binary: false });
    const b = nodeOf(g, 'dwconv_1', 'conv');
    expect(b.attrs).toMatchObject({ filters: 16, groups: 8 });
    expect(b.shape).toEqual([16, 4, 4]);
  });

  it('grouped convs, real and binary, keep C_in/groups input channels a filter', () => {
    const g = graphOf(model(`  conv 3x3 8\n  conv 3x3 16 groups = 4\n  bconv 1x1 32 groups = 2\n${tail}`));
    expect(param(byName(g, 'conv_1'), 'kernel')!.shape).toEqual([16, 2, 3, 3]);
    const b = nodeOf(g, 'bconv', 'conv');
    expect(b.attrs.groups).toBe(2);
    expect(param(b, 'kernel')).toMatchObject({ shape: [32, 8, 1, 1], binary: true });
  });

  it('a group count that does not divide the channels is located at the layer', () => {
    const bad = model(`  conv 3x3 8\n  conv 3x3 16 groups = 3\n${tail}`);
    expect(errorAt(bad, 'bad-argument', 'conv 3x3 16').message).toBe('groups = 3 must divide both the input channels (8) and the filters (16)');
  });

  it("a fixed kernel: every filter and channel holds K, not trainable (QuickNet's blur pool)", () => {
    const g = graphOf(model(`  conv 3x3 4\n  dwconv 3x3 /2 fixed = outer([1, 2, 1], [1, 2, 1]) / 16\n${tail}`, real));
    const k = param(nodeOf(g, 'dwconv', 'conv'), 'kernel')!;
    expect(k).toMatchObject({ shape: [4, 1, 3, 3], init: 'fixed', trainable: false, binary: false });
    const blur = [1, 2, 1, 2, 4, 2, 1, 2, 1].map((v) => v / 16);
    expect(k.values).toEqual([...blur, ...blur, ...blur, ...blur]);
    // A grouped conv repeats K over C_in/groups channels of each of its filters.
    const c = param(graphOf(model(`  conv 2x1 6 groups = 3 fixed = [[1], [-1]]\n${tail}`, real)).nodes[1], 'kernel')!;
    expect(c.shape).toEqual([6, 1, 2, 1]);
    expect(c.values).toEqual([1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1]);
  });

  it('fixed kernels: the wrong size, a ragged list, init as well, or a binary conv are located errors', () => {
    const wrong = model(`  conv 3x3 4\n  dwconv 3x3 fixed = outer([1, 2], [1, 2, 1])\n${tail}`, real);
    const e = errorAt(wrong, 'bad-argument', 'outer(');
    expect(e.message).toBe("dwconv's fixed kernel is 2×3 but its kernel size is 3x3");
    expect(errorAt(model(`  dwconv 2x2 fixed = [[1, 2], [3]]\n${tail}`, real), 'bad-argument', '[[1').message).toBe("dwconv's fixed's rows differ in length: 2, 1");
    expect(errorAt(model(`  dwconv 2x2 fixed = [1, 2]\n${tail}`, real), 'bad-argument', '[1, 2]').message).toBe("dwconv's fixed is a list of rows of numbers, not a list of 2");
    expect(errorAt(model(`  dwconv 2x2 fixed = [[]]\n${tail}`, real), 'bad-argument', '[[]]').message).toBe("dwconv's fixed has an empty row");
    expect(errorAt(model(`  global_avgpool\n  dwconv 3x3\n${tail}`, real), 'shape', 'dwconv').message).toBe('dwconv needs a C×H×W feature map, got a vector of 3');
    expect(errorAt(model(`  dwconv 1x1 fixed = [[1]] init = zeros\n${tail}`, real), 'bad-argument', 'zeros').message).toBe('dwconv has a fixed kernel: it takes no initialiser');
    expect(errorAt(model(`  bconv 1x1 4 fixed = [[1]]\n${tail}`), 'bad-argument', '[[1]]').message).toBe("bconv's kernel is binary and trained: it cannot be fixed");
  });

  it("pad_value = 1 on a binary conv (Larq's one-padding), and on a conv after sign", () => {
    const g = graphOf(model(`  conv 3x3 8\n  bconv 3x3 8 pad_value = 1\n  sign\n  conv 3x3 8 pad_value = 1\n${tail}`));
    expect(nodeOf(g, 'bconv', 'conv').attrs.padValue).toBe(1);
    expect(nodeOf(g, 'conv_1', 'conv').attrs.padValue).toBe(1);
    expect(nodeOf(g, 'conv', 'conv').attrs.padValue).toBe(0);
  });

  it('a pad value on a real input, or other than 0 and 1 on bconv, is a located error', () => {
    const onReal = model(`  conv 3x3 8 pad_value = 1\n${tail}`);
    expect(errorAt(onReal, 'bad-argument', '1\n').message).toBe("conv's pad_value 1 pads a real-valued input");
    const keptReal = model(`  conv 3x3 8\n  bconv 3x3 8 input_quantizer = none pad_value = 1\n${tail}`);
    expect(errorAt(keptReal, 'bad-argument', '1\n').message).toBe("bconv's pad_value 1 pads a real-valued input");
    const two = model(`  conv 3x3 8\n  bconv 3x3 8 pad_value = 2\n${tail}`);
    expect(errorAt(two, 'bad-argument', '2\n').message).toBe("bconv's pad_value is 0 or 1, not 2");
    graphOf(onReal.replace(' pad_value = 1', ' pad_value = 0'));
  });

  it('a bconv that quantizes neither its input nor its kernel is refused: it is a conv', () => {
    const both = model(`  conv 3x3 8\n  bconv 3x3 8 input_quantizer = none kernel_quantizer = none\n${tail}`);
    expect(errorAt(both, 'no-quantizer', 'bconv').message).toBe('this binary conv quantizes neither its input nor its kernel');
    graphOf(both.replace('input_quantizer = none ', ''));
    graphOf(both.replace(' kernel_quantizer = none', ''));
  });

  it("a large VALID kernel acts as a dense layer (XNOR-Net's 6×6 conv)", () => {
    const g = graphOf(model('  conv 3x3 16\n  maxpool 2x2 /2\n  maxpool 2x2 /2\n  maxpool 2x2 /2 padding = valid\n  bconv 2x2 64 padding = valid\n  flatten\n  dense 10', real.replace('classes', 'binarize activations = ste_sign, weights = ste_sign\n  classes')));
    const c = nodeOf(g, 'bconv', 'conv');
    expect(c.shape).toEqual([64, 1, 1]);
    expect(param(c, 'kernel')!.shape).toEqual([64, 16, 2, 2]);
  });
});

describe('activations, shifts and batch norm', () => {
  it('bias, sigmoid, clip (to [0, 1] by default), prelu (zeros by default) and bn without scale or centre', () => {
    const g = graphOf(model(`  conv 3x3 8\n  bias\n  prelu\n  prelu init = 0.25\n  clip\n  clip min = -2 max = 3\n  sigmoid\n  bn scale = false\n  bn center = false\n  bn scale = false center = false\n${tail}`, real));
    expect(param(nodeOf(g, 'bias', 'bias'), 'bias')).toMatchObject({ shape: [8], init: 'zeros', trainable: true });
    expect(param(nodeOf(g, 'prelu', 'prelu'), 'alpha')).toMatchObject({ shape: [8], init: 'zeros' });
    expect(param(nodeOf(g, 'prelu_1', 'prelu'), 'alpha')!.init).toBe('constant_0.25');
    expect(nodeOf(g, 'clip', 'hardtanh').attrs).toEqual({ min: 0, max: 1 });
    expect(nodeOf(g, 'clip_1', 'hardtanh').attrs).toEqual({ min: -2, max: 3 });
    expect(nodeOf(g, 'sigmoid', 'sigmoid').shape).toEqual([8, 16, 16]);
    const roles = (name: string) => byName(g, name).params.map((p) => p.role);
    expect(roles('bn')).toEqual(['beta', 'moving_mean', 'moving_variance']);
    expect(roles('bn_1')).toEqual(['gamma', 'moving_mean', 'moving_variance']);
    expect(roles('bn_2')).toEqual(['moving_mean', 'moving_variance']);
    expect(nodeOf(g, 'bn_2', 'batchnorm').attrs).toMatchObject({ scale: false, center: false });
  });

  it("prelu's init is zeros, ones or 0.25; clip's min must not exceed its max", () => {
    expect(errorAt(model(`  conv 3x3 8\n  prelu init = he_normal\n${tail}`, real), 'bad-argument', 'he_normal').message).toBe("prelu's init is zeros, ones or 0.25, not the name 'he_normal'");
    expect(errorAt(model(`  conv 3x3 8\n  clip min = 1 max = 0\n${tail}`, real), 'bad-argument', 'clip').message).toBe('clip: min 1 is above max 0');
  });
});

describe('quantizers', () => {
  it('the four new quantizers by name with their arguments, and Larq clip values', () => {
    const g = graphOf(
      model(
        `  conv 3x3 8\n  sign dorefa(k_bit = 3)\n  conv 3x3 8\n  sign ste_heaviside(clip = 1.3)\n  bconv 3x3 8 kernel_quantizer = xnor_weight_scale\n  bconv 3x3 8 input_quantizer = ste_sign(clip = 1.25) kernel_quantizer = magnitude_aware_sign_unclipped\n${tail}`,
        real,
      ),
    );
    const q = (name: string) => nodeOf(g, name, 'quantize');
    expect(q('sign').attrs.quantizer).toEqual({ name: 'dorefa', args: { k_bit: 3 } });
    expect(q('sign').precision).toBe('f32');
    expect(q('sign_1').attrs.quantizer).toEqual({ name: 'ste_heaviside', args: { clip: 1.3 } });
    // The quantized (k-bit, {0, 1}) input is real-valued: the bconv's kernel is binary, its input is not.
    const b = nodeOf(g, 'bconv', 'conv');
    expect(b.attrs.kernelQuantizer).toEqual({ name: 'xnor_weight_scale', args: {} });
    expect(g.nodes[b.inputs[0]].name).toBe('sign_1');
    expect(q('bconv_sign').attrs.quantizer).toEqual({ name: 'ste_sign', args: { clip: 1.25 } });
    expect(nodeOf(g, 'bconv_1', 'conv').attrs.kernelQuantizer?.name).toBe('magnitude_aware_sign_unclipped');
  });

  it('a k-bit quantizer with k < 1 or a fraction of a bit, or a clip ≤ 0, is an error at the argument', () => {
    const zero = model(`  conv 3x3 8\n  sign dorefa(k_bit = 0)\n${tail}`, real);
    expect(errorAt(zero, 'bad-argument', '0)').message).toBe("dorefa's k_bit must be a whole number of bits from 1 to 32, got 0");
    expect(errorAt(model(`  conv 3x3 8\n  sign dorefa(1.5)\n${tail}`, real), 'bad-argument', '1.5').message).toBe("dorefa's k_bit must be a whole number of bits from 1 to 32, got 1.5");
    expect(errorAt(model(`  conv 3x3 8\n  sign ste_heaviside(clip = -1)\n${tail}`, real), 'bad-argument', '-1').message).toBe("ste_heaviside's clip must be a positive number, got -1");
    expect(errorAt(model(`  conv 3x3 8\n  sign dorefa(bits = 2)\n${tail}`, real), 'unknown-quantizer', 'dorefa').message).toBe("quantizer 'dorefa' has no argument 'bits'");
  });
});

describe('parallel branches', () => {
  it('join = sum adds every branch (an empty branch is the identity)', () => {
    const g = graphOf(model(`  conv 3x3 8\n  parallel(join = sum) {\n    branch { }\n    branch { bconv 3x3 8; bn }\n    branch { bconv 1x1 8; bn }\n  }\n${tail}`));
    const add = nodeOf(g, 'parallel/add', 'add');
    expect(add.inputs.map((i) => g.nodes[i].name)).toEqual(['conv', 'parallel/branch2/bn', 'parallel/branch3/bn']);
    expect(add.shape).toEqual([8, 16, 16]);
    expect(param(byName(g, 'parallel/branch2/bconv'), 'kernel')!.name).toBe('parallel/branch2/bconv/kernel');
  });

  it("join = concat stacks channels (ReActNet's doubling: two 1×1 binary convs, each with its shortcut)", () => {
    const text = model(`  conv 3x3 8\n  block reduce(ch) = parallel(join = concat) {\n    branch { residual { bconv 1x1 ch; bn } }\n    right: branch { residual { bconv 1x1 ch; bn } }\n  }\n  reduce(8)\n${tail}`);
    const g = graphOf(text);
    const cat = nodeOf(g, 'reduce1/concat', 'concat');
    expect(cat.shape).toEqual([16, 16, 16]);
    expect(cat.inputs.map((i) => g.nodes[i].name)).toEqual(['reduce1/branch1/residual/add', 'reduce1/right/residual/add']);
  });

  it('join = multiply scales the first branch by the second (squeeze-and-excite)', () => {
    const g = graphOf(
      model(`  conv 3x3 16\n  block se(ch, r = 4) = parallel(join = multiply) {\n    branch { }\n    branch { global_avgpool; dense (ch // r) bias=false; relu; dense ch bias=false; sigmoid }\n  }\n  se(16)\n${tail}`, real),
    );
    const m = nodeOf(g, 'se1/multiply', 'multiply');
    expect(m.inputs.map((i) => g.nodes[i].name)).toEqual(['conv', 'se1/branch2/sigmoid']);
    expect(m.shape).toEqual([16, 16, 16]);
    expect(byName(g, 'se1/branch2/dense').shape).toEqual([4]);
    expect(nodeOf(g, 'se1/branch2/dense', 'dense').attrs.bias).toBe(false);
  });

  it('branches that cannot be summed, stacked or multiplied are errors at the branch', () => {
    const sum = model(`  conv 3x3 8\n  parallel(join = sum) {\n    branch { }\n    branch { conv 3x3 16 }\n  }\n${tail}`, real);
    expect(errorAt(sum, 'shape-mismatch', 'branch { conv').message).toBe('parallel(join = sum) cannot add branches of shapes 8×16×16, 16×16×16');
    const cat = model(`  conv 3x3 8\n  parallel(join = concat) {\n    branch { }\n    branch { conv 3x3 8 /2 }\n  }\n${tail}`, real);
    expect(errorAt(cat, 'shape-mismatch', 'branch { conv').message).toBe('parallel(join = concat) cannot stack branches of shapes 8×16×16, 8×8×8');
    const mul = model(`  conv 3x3 8\n  parallel(join = multiply) {\n    branch { }\n    branch { global_avgpool; dense 4 }\n  }\n${tail}`, real);
    expect(errorAt(mul, 'shape-mismatch', 'branch { global').message).toBe('parallel(join = multiply) cannot scale 8×16×16 by 4');
  });

  it('a parallel holds two or more branches and only branches; multiply takes two; joins are named', () => {
    const layer = model(`  conv 3x3 8\n  parallel {\n    branch { }\n    relu\n  }\n${tail}`, real);
    expect(errorAt(layer, 'bad-parallel', 'relu').message).toBe("parallel's body holds only branch { ... } paths");
    expect(errorAt(model(`  parallel { branch { relu } }\n${tail}`, real), 'bad-parallel', 'parallel').message).toBe('parallel needs at least 2 branches, got 1');
    expect(errorAt(model(`  parallel(join = multiply) { branch { }; branch { }; branch { } }\n${tail}`, real), 'bad-parallel', 'parallel').message).toBe('parallel(join = multiply) multiplies 2 branches, got 3');
    const avg = errorAt(model(`  parallel(join = sun) { branch { }; branch { } }\n${tail}`, real), 'bad-argument', 'sun');
    expect(avg.hint).toBe("did you mean 'sum'?");
    expect(errorAt(model(`  parallel(join = "sum") { branch { }; branch { } }\n${tail}`, real), 'bad-argument', '"sum"').hint).toBe('write it without quotes: join = sum');
    expect(errorAt(model(`  branch { relu }\n${tail}`, real), 'misplaced', 'branch').message).toBe('branch { ... } is one path of parallel');
    expect(errorsOf(model(`  block branch() { relu }\n${tail}`, real))[0].message).toBe("a block cannot be called 'branch': that is a built-in word (parallel's paths)");
  });
});

describe('add_into', () => {
  it("adds body(x) into x's last channels (MeliusNet's improvement block)", () => {
    const g = graphOf(model(`  conv 3x3 24\n  block improve(ch) = add_into { bn; bconv 3x3 ch }\n  improve(8)\n  add_into { conv 1x1 24 }\n${tail}`));
    const a = nodeOf(g, 'improve1/add_into', 'add_into');
    expect(a.attrs.offset).toBe(16);
    expect(a.shape).toEqual([24, 16, 16]);
    expect(a.inputs.map((i) => g.nodes[i].name)).toEqual(['conv', 'improve1/bconv']);
    expect(nodeOf(g, 'add_into/add_into', 'add_into').attrs.offset).toBe(0);
  });

  it('a body with more channels, or another height and width, is an error at add_into', () => {
    const wide = model(`  conv 3x3 8\n  add_into { conv 3x3 16 }\n${tail}`, real);
    expect(errorAt(wide, 'shape-mismatch', 'add_into').message).toBe("add_into's body gives 16 channels, more than the 8 it adds into");
    const small = model(`  conv 3x3 8\n  add_into { conv 3x3 8 /2 }\n${tail}`, real);
    expect(errorAt(small, 'shape-mismatch', 'add_into').message).toBe("add_into's body turns 8×16×16 into 8×8×8: it must keep the height and width");
  });
});

describe('computed names', () => {
  it('stage ("section_" + str(i)) in a loop, and a computed label', () => {
    const g = graphOf(model(`  conv 3x3 8\n  for i in 1..3 {\n    stage ("section_" + str(i)) { ("unit" + str(i * 10)): conv 3x3 8 }\n  }\n${tail}`, real));
    expect(g.nodes.filter((n) => n.op === 'conv').map((n) => n.name)).toEqual(['conv', 'section_1/unit10', 'section_2/unit20', 'section_3/unit30']);
  });

  it('a computed name that is not an identifier, or not a string, is an error at the expression', () => {
    const spaced = model(`  for i in 1..2 { stage ("section " + str(i)) { relu } }\n${tail}`, real);
    expect(errorAt(spaced, 'bad-name', '("section ').message).toBe('the computed name "section 1" is not a valid name');
    expect(errorAt(model(`  stage (str(1)) { relu }\n${tail}`, real), 'bad-name', '(str').message).toBe('the computed name "1" is not a valid name');
    expect(errorAt(model(`  stage (1 + 2) { relu }\n${tail}`, real), 'type', '(1 + 2)').message).toBe('a computed name is a string, not the number 3');
    const plus = errorAt(model(`  stage ("s" + 1) { relu }\n${tail}`, real), 'type', '1)');
    expect(plus.message).toBe('only strings are joined with +, not the number 1');
    expect(plus.hint).toContain('str(');
  });
});

describe('expressions: str, outer, list arithmetic', () => {
  it('evaluate as Python would', () => {
    const g = graphOf(model(`  let k = [[1, 2], [3, 4]] * 2 / 4\n  conv 2x2 1 fixed = k\n  conv 3x3 1 fixed = (2 * outer([1, 0, -1], 1x2x1) / 2)\n  stage ("s" if str(1.5) == "1.5" and str(true) == "true" and str("a") == "a" else "wrong")  { relu }\n${tail}`, 'input 1x16x16\n  classes 10'));
    expect(param(g.nodes[1], 'kernel')!.values).toEqual([0.5, 1, 1.5, 2]);
    expect(param(g.nodes[2], 'kernel')!.values).toEqual([1, 2, 1, 0, 0, 0, -1, -2, -1]);
    expect(byName(g, 's/relu').op).toBe('relu');
  });

  it('misuse is located', () => {
    expect(errorAt(model(`  let k = [1] * [2]\n${tail}`, real), 'type', '[1] * [2]').message).toBe('a list * a list is not defined');
    expect(errorAt(model(`  let k = 2 / [2]\n${tail}`, real), 'type', '[2]').message).toBe('a number cannot be divided by a list');
    expect(errorAt(model(`  let k = outer(1, [2])\n${tail}`, real), 'type', '1,').message).toBe('outer() takes lists of numbers, not the number 1');
    expect(errorAt(model(`  let k = str(1, 2)\n${tail}`, real), 'arity', 'str(').message).toBe('str() takes 1 argument, got 2');
    // A misspelt loop variable must not become its own spelling.
    const typo = errorAt(model(`  for i in 1..2 { stage ("s_" + str(j)) { relu } }\n${tail}`, real), 'unknown-name', 'j)');
    expect(typo.message).toBe("unknown name 'j'");
    expect(typo.hint).toBe("did you mean 'i'?");
    expect(errorAt(model(`  stage (conv2) { relu }\n${tail}`, real), 'type', '(conv2)').hint).toBe("'conv2' is not a variable here; a fixed name goes without parentheses: stage conv2 { ... }");
  });
});

describe('issue 25: the language', () => {
  it('item 5: a repetition count may be an indexed name or a parenthesised expression', () => {
    const g = graphOf(model(`  let blocks = [1, 3]\n  conv 3x3 8\n  block unit() { relu }\n  unit() * blocks[1]\n  unit() * (blocks[0] + 1)\n${tail}`, real));
    expect(g.nodes.filter((n) => n.op === 'relu').map((n) => n.name)).toEqual(['unit1/relu', 'unit2/relu', 'unit3/relu', 'unit4/relu', 'unit5/relu']);
  });

  it('item 6: a parenthesised first argument followed by more bare arguments is not the call form', () => {
    const g = graphOf(model(`  conv 3x3 16\n  let r = 4\n  global_avgpool\n  dense (channels // r) bias=false\n  dense (10)`, real));
    const d = nodeOf(g, 'dense', 'dense');
    expect(d.attrs).toMatchObject({ units: 4, bias: false });
    expect(nodeOf(g, 'dense_1', 'dense').attrs.units).toBe(10);
  });

  it('item 7: after a failed statement, no message describes a stale shape; other errors still do', () => {
    const text = model(`  conv 3x3 64 strid=2\n  conv 3x3 32 groups = 5\n  add_into { conv 3x3 128 }\n  reluu\n${tail}`, real);
    const errors = errorsOf(text);
    expect(errors.map((d) => d.message)).toEqual(["conv has no argument 'strid'", "unknown layer or block 'reluu'"]);
  });

  it("item 8: the residual hint suggests a layer every spec has, and following it works", () => {
    const text = model(`  conv 3x3 8\n  block u(ch, s = 1) = residual() { bconv 3x3 ch /s; bn }\n  u(16, s = 2)\n${tail}`);
    const e = errorAt(text, 'shape-mismatch', 'u(16, s = 2)');
    expect(e.hint).toBe('project the shortcut where the shape changes, e.g. residual(shortcut = conv(1x1, 16, stride = 2)), or a block of yours that maps 8×16×16 to 16×8×8');
    expect(e.hint).not.toContain('project(');
    graphOf(text.replace('residual()', 'residual(shortcut = conv(1x1, 16, stride = 2))'));
  });

  it('item 9: input and classes set from model parameters (the documented example)', () => {
    const text = 'model small(size = 224, channels_in = 3, num_classes = 1000) {\n  input [channels_in, size, size]\n  classes num_classes\n  conv 3x3 8\n  global_avgpool\n  dense num_classes\n}\n';
    const g = graphOf(text, { params: { size: 28, channels_in: 1, num_classes: 10 } });
    expect([g.input, g.classes]).toEqual([[1, 28, 28], 10]);
    expect(graphOf(text).input).toEqual([3, 224, 224]);
  });
});

describe('the examples of docs/language.md', () => {
  const docs = readFileSync('docs/language.md', 'utf8');
  const block = (start: string) => {
    const at = docs.indexOf(start);
    expect(at, `docs/language.md has no example starting ${start}`).toBeGreaterThan(0);
    return docs.slice(at, docs.indexOf('```', at));
  };

  it('the combinator blocks (squeeze-and-excite, ReActNet reduction, MeliusNet improvement) build as described', () => {
    const blocks = block('# squeeze-and-excite');
    const g = graphOf(model(`${blocks}\n  conv 3x3 64\n  se(64)\n  reduce(64)\n  improve()\n${tail}`, 'input 3x16x16\n  classes 10\n  binarize activations = ste_sign, weights = ste_sign'));
    expect(byName(g, 'se1/multiply').shape).toEqual([64, 16, 16]);
    expect(byName(g, 'reduce1/concat').shape).toEqual([128, 16, 16]);
    expect(nodeOf(g, 'improve1/add_into', 'add_into').attrs.offset).toBe(64);
  });

  it('the computed names and the parameterised input and classes', () => {
    const names = block('for i in 1..4 {').replace(/unit\(64 \* 2 \*\* \(i - 1\)\)/, 'unit(64)');
    const g = graphOf(model(`  block unit(ch) { conv 3x3 ch }\n${names}\n${tail}`, real));
    expect(g.nodes.filter((n) => n.op === 'conv').map((n) => n.name)).toEqual([1, 2, 3, 4].flatMap((i) => [`section_${i}/unit1/conv`, `section_${i}/unit2/conv`]).concat('unit3/conv'));
    const retarget = block('model reactnet_small(').replace('...', 'conv 3x3 8\n  global_avgpool\n  dense num_classes');
    expect(graphOf(`${retarget}\n`, { params: { size: 28, channels_in: 1, num_classes: 10 } }).input).toEqual([1, 28, 28]);
  });
});

describe('graph JSON', () => {
  it('reads a version-1 graph written before pad values and batch norm without scale/centre (defaults filled)', () => {
    // Written by `graphToJson` at commit f56d48a (before this session's IR): no padValue, scale or center.
    const text = readFileSync('test/frontend/fixtures/bireal-small-v1.graph.json', 'utf8');
    expect(text).not.toContain('padValue');
    const { graph, diagnostics } = graphFromJson(text, 'old.json');
    expect(diagnostics).toEqual([]);
    const convs = graph!.nodes.filter((n) => n.op === 'conv');
    const bns = graph!.nodes.filter((n) => n.op === 'batchnorm');
    expect(convs.length).toBeGreaterThan(3);
    expect(convs.every((n) => n.op === 'conv' && n.attrs.padValue === 0)).toBe(true);
    expect(bns.every((n) => n.op === 'batchnorm' && n.attrs.scale && n.attrs.center)).toBe(true);
    // The same spec today gives the same graph.
    const today = compile(readFileSync('specs/fashion/bireal-small.sofar', 'utf8'), 'specs/fashion/bireal-small.sofar').graph!;
    expect(graphToJson(graph!, { sources: false })).toBe(graphToJson(today, { sources: false }));
  });

  it('round-trips every new construct', () => {
    const g = graphOf(
      model(`  conv 3x3 8\n  dwconv 3x3 fixed = outer([1, 2, 1], [1, 2, 1]) / 16\n  bconv 3x3 8 pad_value = 1\n  bias\n  bn scale = false\n  parallel(join = multiply) { branch { }; branch { global_avgpool; dense 8; sigmoid } }\n  add_into { bconv 3x3 4 }\n  sign dorefa(k_bit = 2)\n${tail}`),
    );
    const text = graphToJson(g);
    const back = graphFromJson(text);
    expect(back.diagnostics).toEqual([]);
    expect(graphToJson(back.graph!)).toBe(text);
  });
});
