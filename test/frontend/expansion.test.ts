/** Elaboration: blocks, repetition, loops, conditions, shortcuts and FractalNet's expansion rule. */
import { describe, expect, it } from 'vitest';
import type { Graph, NodeOf } from '../../src/graph/types.js';
import { errorsOf, graphOf, model, weightDepth } from './helpers.js';

const ops = (g: Graph) => g.nodes.map((n) => n.op);
const named = (g: Graph, name: string) => {
  const node = g.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`no node ${name}; names: ${g.nodes.map((n) => n.name).join(', ')}`);
  return node;
};

/** Independent reference for FractalNet's rule: units U(1)=1, U(k)=2U(k−1)+1; joins J(C)=2^(C−2). */
const unitsOf = (c: number): number => (c === 1 ? 1 : 2 * unitsOf(c - 1) + 1);

describe('fractal expansion', () => {
  for (let c = 1; c <= 6; c++) {
    it(`C = ${c}: ${unitsOf(c)} units, ${c >= 2 ? 2 ** (c - 2) : 0} joins, deepest path ${2 ** (c - 1)}`, () => {
      const g = graphOf(model(`  conv 3x3 8\n  fractal(columns = ${c}) { conv 3x3 8 }\n  global_avgpool\n  dense 10`));
      const convs = g.nodes.filter((n) => n.op === 'conv' && n.name.startsWith('fractal/'));
      const joins = g.nodes.filter((n): n is NodeOf<'join'> & Graph['nodes'][number] => n.op === 'join');
      expect(convs).toHaveLength(unitsOf(c));
      expect(joins).toHaveLength(c >= 2 ? 2 ** (c - 2) : 0);
      // Longest path in weight layers: stem conv + the deepest column + dense.
      expect(weightDepth(g)).toBe(1 + 2 ** (c - 1) + 1);
      // Column j holds 2^(j−1) units, named col{j}/unit{i}.
      for (let j = 1; j <= c; j++) {
        expect(convs.filter((n) => n.name.startsWith(`fractal/col${j}/`))).toHaveLength(2 ** (j - 1));
        expect(convs.some((n) => n.name === `fractal/col${j}/unit${2 ** (j - 1)}/conv`)).toBe(true);
      }
      if (c >= 2) {
        // The last join merges every column, deepest first; the first merges the two deepest.
        expect(joins[joins.length - 1].attrs.columns).toEqual(Array.from({ length: c }, (_, i) => c - i));
        expect(joins[0].attrs.columns).toEqual(c === 2 ? [2, 1] : [c, c - 1]);
      }
    });
  }

  it('joins of FractalNet C = 4 take 2, 3, 2 and 4 inputs, as in the authors\' implementation', () => {
    const g = graphOf(model(`  conv 3x3 8\n  fractal(columns = 4) { conv 3x3 8 }\n  global_avgpool\n  dense 10`));
    const joins = g.nodes.filter((n) => n.op === 'join');
    expect(joins.map((j) => j.inputs.length)).toEqual([2, 3, 2, 4]);
  });

  it('carries join mode and drop-path rates, and names the path stage/fractal/colN/unitK/layer', () => {
    const g = graphOf(
      model(`  block unit(ch) = residual() { bconv 3x3 ch; bn }\n  conv 3x3 8\n  stage stage2 { fractal(columns = 3, join = max, drop_path = 0.15, global_drop_path = 0.5) { unit(8) } }\n  global_avgpool\n  dense 10`),
    );
    const join = named(g, 'stage2/fractal/join2');
    expect(join.op === 'join' && join.attrs).toMatchObject({ mode: 'max', fractal: 'stage2/fractal', columns: [3, 2, 1], dropPath: { local: 0.15, global: 0.5 } });
    expect(named(g, 'stage2/fractal/col3/unit4/bconv').params[0].name).toBe('stage2/fractal/col3/unit4/bconv/kernel');
  });

  it('concat joins add up channels', () => {
    const g = graphOf(model(`  conv 3x3 8\n  fractal(columns = 2, join = concat) { conv 3x3 8 }\n  global_avgpool\n  dense 10`));
    expect(g.nodes.find((n) => n.op === 'join')?.shape).toEqual([16, 16, 16]);
  });
});

describe('blocks and control flow', () => {
  it('binds positional and named arguments, evaluates defaults, and numbers instances', () => {
    const g = graphOf(
      model(`  block b(ch, k = 3, s = k - 2) { conv k ch /s }\n  b(4) * 2\n  b(8, s = 2)\n  lbl: b(k = 5, ch = 6)\n  global_avgpool\n  dense 10`),
    );
    const convs = g.nodes.filter((n): n is NodeOf<'conv'> & Graph['nodes'][number] => n.op === 'conv');
    expect(convs.map((n) => [n.name, n.attrs.filters, n.attrs.kernel[0], n.attrs.stride[0]])).toEqual([
      ['b1/conv', 4, 3, 1],
      ['b2/conv', 4, 3, 1],
      ['b3/conv', 8, 3, 2],
      ['lbl/conv', 6, 5, 3],
    ]);
  });

  it('runs for loops over lists and ranges, with if/else, let, indexing and shape built-ins', () => {
    const g = graphOf(
      model(`  let widths = [4, 8, 16]\n  for i in 0..2 {\n    if i == 1 { conv 3x3 (widths[i] * 2) } else { conv 3x3 widths[i] }\n  }\n  conv 1x1 (channels // 2 + height - width)\n  global_avgpool\n  dense 10`),
    );
    expect(g.nodes.filter((n) => n.op === 'conv').map((n) => n.shape[0])).toEqual([4, 16, 16, 8]);
  });

  it('len() counts the items of a list or a size, so loops follow list parameters', () => {
    const g = graphOf(model(`  let widths = [4, 8, 16, 32]\n  for i in 0..len(widths) - 1 { conv 3x3 widths[i] }\n  conv 1x1 (len(3x3) + len([]))\n  global_avgpool\n  dense 10`));
    expect(g.nodes.filter((n) => n.op === 'conv').map((n) => n.shape[0])).toEqual([4, 8, 16, 32, 2]);
    expect(errorsOf(model(`  conv 3x3 len(4)\n  global_avgpool\n  dense 10`))[0].message).toMatch(/len\(\) takes a list or a size, not/);
  });

  it("rounds halves to even like Python (Larq Zoo's channel formula)", () => {
    const g = graphOf(model(`  conv 1x1 (round(7.5) + round(6.5) + round(-6.5))\n  global_avgpool\n  dense 10`));
    expect(g.nodes[1].shape[0]).toBe(8 + 6 - 6);
  });

  it('evaluates signs with the usual precedence: -2*3 = -6, 2--1 = 3, -2**2 = -4', () => {
    const g = graphOf(model(`  conv 3x3 8\n  hardtanh min=-2 max=+1.5\n  hardtanh min=(-2*3) max=(2--1)\n  hardtanh min=(-2**2) max=(-(-4))\n  global_avgpool\n  dense 10`));
    expect(g.nodes.filter((n) => n.op === 'hardtanh').map((n) => n.attrs)).toEqual([
      { min: -2, max: 1.5 },
      { min: -6, max: 3 },
      { min: -4, max: 4 },
    ]);
  });

  it('stages name scopes; labels name layers; repeated names get suffixes', () => {
    const g = graphOf(model(`  stage s { conv 3x3 4; conv 3x3 4; first: relu }\n  global_avgpool\n  dense 10`));
    expect(g.nodes.slice(1, 4).map((n) => n.name)).toEqual(['s/conv', 's/conv_1', 's/first']);
  });

  it('model parameters take defaults and overrides', () => {
    const text = 'model m(w = 4, deep = false) {\n  input 3x8x8\n  classes 10\n  conv 3x3 w\n  if deep { conv 3x3 w }\n  global_avgpool\n  dense 10\n}';
    expect(graphOf(text).nodes.filter((n) => n.op === 'conv').map((n) => n.shape[0])).toEqual([4]);
    expect(graphOf(text, { params: { w: 6, deep: true } }).nodes.filter((n) => n.op === 'conv').map((n) => n.shape[0])).toEqual([6, 6]);
  });

  it('a string override is read as an expression (as --set passes it), with errors at the flag', () => {
    const text = 'model m(widths = [4, 4], join = sum) {\n  input 3x8x8\n  classes 10\n  for w in widths { conv 3x3 w }\n  global_avgpool\n  dense 10\n}';
    const convs = (params: Record<string, string>) => graphOf(text, { params }).nodes.filter((n) => n.op === 'conv').map((n) => n.shape[0]);
    expect(convs({ widths: '[2, 3, 5]' })).toEqual([2, 3, 5]);
    expect(convs({ widths: '[(1 + 1) * 4]' })).toEqual([8]);
    expect(convs({ join: 'mean' })).toEqual([4, 4]); // a bare name stays a name where the default is one
    const typo = errorsOf(text, { params: { widths: 'wide' } });
    expect(typo.map((d) => [d.span?.file, d.message])).toEqual([['--set widths', "'wide' is not defined; the parameter's default is a list of 2"]]);
    expect(typo[0].hint).toBe('give a value like its default, e.g. [4, 4]');
    const syntax = errorsOf(text, { params: { widths: '[1,' } });
    expect(syntax[0]).toMatchObject({ code: 'syntax', span: { file: '--set widths', line: 1 } });
  });

  it('unsupported parameter values and node budgets are diagnostics, not crashes', () => {
    const text = 'model m(w = 4) {\n  input 3x8x8\n  classes 10\n  conv 3x3 w\n  global_avgpool\n  dense 10\n}';
    expect(errorsOf(text, { params: { w: [4, 4] as unknown as string } })[0].message).toBe("parameter 'w' is given [4,4]");
    for (const nodeBudget of [0, -1, Number.NaN]) expect(errorsOf(text, { nodeBudget })[0].message).toMatch(/^the node budget must be a whole number ≥ 1/);
  });
});

describe('shortcuts and binarization', () => {
  it('residual: x + body(x), projection in scope shortcut, identity otherwise', () => {
    const g = graphOf(
      model(
        `  block unit(ch, stride = 1) = residual(shortcut = project(ch, stride) if stride > 1) { bconv 3x3 ch /stride; bn }\n  block project(ch, stride) { avgpool 2x2 /stride; conv 1x1 ch; bn }\n  conv 3x3 8\n  unit(8)\n  unit(16, stride = 2)\n  global_avgpool\n  dense 10`,
      ),
    );
    const add1 = named(g, 'unit1/add');
    expect(add1.inputs[0]).toBe(named(g, 'conv').id);
    expect(named(g, 'unit2/shortcut/conv').shape).toEqual([16, 8, 8]);
    expect(named(g, 'unit2/add').inputs[0]).toBe(named(g, 'unit2/shortcut/bn').id);
  });

  it('dense shortcut: concat(x, body(x))', () => {
    const g = graphOf(model(`  block layer(k) = concat { bn; bconv 3x3 k }\n  conv 3x3 8\n  layer(4) * 3\n  global_avgpool\n  dense 10`));
    expect(named(g, 'layer3/concat').shape).toEqual([20, 16, 16]);
  });

  it('bconv inserts its input quantizer only for real inputs; sign makes values binary', () => {
    const g = graphOf(model(`  conv 3x3 8\n  bconv 3x3 8\n  bn\n  sign\n  bconv 3x3 8 kernel_quantizer=magnitude_aware_sign\n  global_avgpool\n  dense 10`));
    expect(ops(g)).toEqual(['input', 'conv', 'quantize', 'conv', 'batchnorm', 'quantize', 'conv', 'global_avgpool', 'dense']);
    const q = named(g, 'bconv_sign');
    expect(q.op === 'quantize' && q.attrs.quantizer).toEqual({ name: 'ste_sign', args: { clip: 1 } });
    expect(q.precision).toBe('bin');
    const second = named(g, 'bconv_1');
    expect(second.op === 'conv' && second.attrs.kernelQuantizer).toEqual({ name: 'magnitude_aware_sign', args: { clip: 1 } });
    expect(second.params[0].binary).toBe(true);
  });

  it('binarize changes the policy for the rest of its body only', () => {
    const g = graphOf(
      model(`  conv 3x3 8\n  stage a { binarize activations = approx_sign\n bconv 3x3 8 }\n  bconv 3x3 8\n  global_avgpool\n  dense 10`),
    );
    const quantizers = g.nodes.filter((n) => n.op === 'quantize').map((n) => (n.op === 'quantize' ? n.attrs.quantizer.name : ''));
    expect(quantizers).toEqual(['approx_sign', 'ste_sign']);
  });
});
