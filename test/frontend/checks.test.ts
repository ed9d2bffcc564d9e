/**
 * Every checking rule: each bad spec must fail with the right code, at the right line and column, with
 * a hint — and the corrected spec must pass, so no rule fires on good input.
 */
import { describe, expect, it } from 'vitest';
import { check } from '../../src/check.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import { errorsOf, graphOf, model, position } from './helpers.js';

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

describe('precision', () => {
  it('a binary conv fed real values (its input quantizer turned off)', () => {
    const bad = model(`${head}  bconv 3x3 8 input_quantizer=none\n${tail}`);
    const e = expectError(bad, 'precision', 'bconv');
    expect(e.message).toContain('fed real values from conv');
    graphOf(bad.replace('input_quantizer=none', ''));
    graphOf(bad.replace('  bconv', '  sign\n  bconv'));
  });

  it('the same rule holds for graphs built in TypeScript', () => {
    const b = new GraphBuilder({ name: 'g', input: [3, 8, 8], classes: 2, binarize: { weights: 'ste_sign' } });
    const x = b.bconv(b.input(), { filters: 2, kernel: 3, inputQuantizer: 'none' });
    const g = b.finish(b.dense(b.globalAvgpool(x), { units: 2 }));
    expect(check(g).map((d) => d.code)).toEqual(['precision']);
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
    expectError(model(`${defs}${head}  u(4, 3, 2)\n${tail}`), 'arity', '2)');
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

  it('duplicate blocks, blocks named like layers, and missing settings', () => {
    expectError(model(`  block u(c) { relu }\n  block u(c) { bn }\n${head}${tail}`), 'duplicate', 'u(c) { bn');
    expectError(model(`  block conv(c) { relu }\n${head}${tail}`), 'duplicate', 'conv(c)');
    expectError('model m {\n  classes 10\n  relu\n}\n', 'missing-setting', 'm {');
    expectError(model(`${head}  stage s { classes 3 }\n${tail}`), 'misplaced', 'classes 3');
  });
});
