/** The grammar: what valid text becomes, and how invalid text is reported (several errors per run). */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from '../../grammar/index.js';
import type { Expr, Statement } from '../../grammar/ast.js';

const body = (text: string): Statement[] => {
  const r = parse(`model m {\n${text}\n}`, 't.sofar');
  expect(r.diagnostics).toEqual([]);
  return r.ast.models[0].body;
};
const call = (s: Statement) => {
  if (s.kind !== 'call') throw new Error(`not a call: ${s.kind}`);
  return s;
};
const value = (e: Expr): unknown => {
  switch (e.kind) {
    case 'number':
    case 'bool':
    case 'string':
    case 'dims':
      return e.value;
    case 'name':
      return e.name;
    case 'binary':
      return [e.op, value(e.left), value(e.right)];
    case 'unary':
      return [e.op, value(e.operand)];
    case 'call':
      return [e.callee.name, ...e.args.map((a) => (a.name ? `${a.name.name}=${JSON.stringify(value(a.value))}` : value(a.value)))];
    case 'conditional':
      return ['if', value(e.then), value(e.cond), e.otherwise ? value(e.otherwise) : null];
    case 'list':
      return e.items.map(value);
    case 'index':
      return ['[]', value(e.target), value(e.index)];
    case 'range':
      return ['..', value(e.from), value(e.to)];
  }
};

describe('valid input', () => {
  it('reads bare layer arguments: sizes, numbers, stride sugar and named values', () => {
    const [s] = body('bconv 3x3 64 /2 padding=same input_quantizer=ste_sign(clip=1.3)');
    const c = call(s);
    expect(c.callee.name).toBe('bconv');
    expect(c.parenthesized).toBe(false);
    expect(c.args.map((a) => [a.name?.name ?? null, value(a.value)])).toEqual([
      [null, [3, 3]],
      [null, 64],
      ['stride', 2],
      ['padding', 'same'],
      ['input_quantizer', ['ste_sign', 'clip=1.3']],
    ]);
  });

  it('separates statements by newlines and semicolons, and ignores comments', () => {
    const stmts = body('conv 3x3 16 # a comment\n\n  bn; relu\n# only a comment\nmaxpool 2x2');
    expect(stmts.map((s) => call(s).callee.name)).toEqual(['conv', 'bn', 'relu', 'maxpool']);
  });

  it('lets parenthesised arguments span lines', () => {
    const [s] = body('unit(\n  64,\n  stride = 2\n)');
    expect(call(s).args.map((a) => [a.name?.name ?? null, value(a.value)])).toEqual([
      [null, 64],
      ['stride', 2],
    ]);
  });

  it('reads repetition, labels and combinator bodies', () => {
    const [a, b, c] = body('unit(64) * 4\nstem: conv 7x7 64 /2\nfractal(columns = 3, join = mean) { unit(32); bn }');
    expect(value(call(a).repeat!)).toBe(4);
    expect(call(b).label).toMatchObject({ name: 'stem' });
    expect(call(c).body?.map((s) => call(s).callee.name)).toEqual(['unit', 'bn']);
  });

  it('reads computed stage names and labels, indexed repetition counts, and a parenthesised first bare argument', () => {
    const [st, lab, rep, dense, callForm] = body('stage ("s_" + str(i)) { relu }\n("u" + str(i)): unit(64)\nunit() * blocks[s]\ndense (channels // r) bias=false\ndense(10, bias = false)');
    if (st.kind !== 'stage' || !('computed' in st.name)) throw new Error('not a computed stage name');
    expect(value(st.name.computed)).toEqual(['+', 's_', ['str', 'i']]);
    const label = call(lab).label;
    expect(label && 'computed' in label && value(label.computed)).toEqual(['+', 'u', ['str', 'i']]);
    expect(value(call(rep).repeat!)).toEqual(['[]', 'blocks', 's']);
    expect(call(dense).parenthesized).toBe(false);
    expect(call(dense).args.map((a) => [a.name?.name ?? null, value(a.value)])).toEqual([[null, ['//', 'channels', 'r']], ['bias', false]]);
    expect(call(callForm).parenthesized).toBe(true);
  });

  it('divides a bare named value by a spaced /, while a glued /n stays the stride', () => {
    const [a, b] = body('dwconv 3x3 /2 fixed = outer([1, 2, 1], [1, 2, 1]) / 16\nbconv 3x3 8 input_quantizer=ste_sign(clip=1.3) /2');
    expect(call(a).args.map((x) => [x.name?.name ?? null, value(x.value)])).toEqual([
      [null, [3, 3]],
      ['stride', 2],
      ['fixed', ['/', ['outer', [1, 2, 1], [1, 2, 1]], 16]],
    ]);
    expect(call(b).args.map((x) => x.name?.name ?? null)).toEqual([null, null, 'input_quantizer', 'stride']);
  });

  it('gives operators their usual precedence and reads conditionals, lists, indexing and ranges', () => {
    const [s] = body('let x = 1 + 2 * 3 ** 2 // 4 - -1 if a > 1 and not b else [1, 2][0]');
    if (s.kind !== 'let') throw new Error('not a let');
    expect(value(s.value)).toEqual([
      'if',
      ['-', ['+', 1, ['//', ['*', 2, ['**', 3, 2]], 4]], ['-', 1]],
      ['and', ['>', 'a', 1], ['not', 'b']],
      ['[]', [1, 2], 0],
    ]);
    const [r] = body('for i in 0..4 { relu }');
    if (r.kind !== 'for') throw new Error('not a for');
    expect(value(r.iterable)).toEqual(['..', 0, 4]);
  });

  it('reads signs: tighter than * and /, looser than **, and in bare arguments', () => {
    const [s] = body('let x = [-2 * 3, 2--1, -2 ** 2, +4 / -2]');
    if (s.kind !== 'let') throw new Error('not a let');
    expect(value(s.value)).toEqual([
      ['*', ['-', 2], 3],
      ['-', 2, ['-', 1]],
      ['-', ['**', 2, 2]],
      ['/', ['+', 4], ['-', 2]],
    ]);
    const [h] = body('hardtanh min=-1 max=+1.5 -widths[0]');
    expect(call(h).args.map((a) => [a.name?.name ?? null, value(a.value)])).toEqual([
      ['min', ['-', 1]],
      ['max', ['+', 1.5]],
      [null, ['-', ['[]', 'widths', 0]]],
    ]);
  });

  it('reads string escapes without failing on unknown ones or tabs', () => {
    const [s] = body('let s = "a\tb\\n\\"c\\z"');
    if (s.kind !== 'let' || s.value.kind !== 'string') throw new Error('not a string');
    expect(s.value.value).toBe('a\tb\n"cz');
  });

  it('reads blocks with defaults and wrappers, stages, if/else chains and settings', () => {
    const r = parse(
      `block unit(ch, stride = 1) = residual(shortcut = project(ch) if stride > 1) {\n  bconv 3x3 ch /stride\n  bn\n}\nmodel m(columns = 4) {\n  input 3x32x32\n  classes 10\n  stage s { if columns > 3 { relu } else if columns > 2 { bn } else { prelu } }\n}`,
      't.sofar',
    );
    expect(r.diagnostics).toEqual([]);
    const [unit] = r.ast.blocks;
    expect(unit.params.map((p) => [p.name.name, p.default ? value(p.default) : null])).toEqual([
      ['ch', null],
      ['stride', 1],
    ]);
    expect(unit.wrapper?.callee.name).toBe('residual');
    expect(value(unit.wrapper!.args[0].value)).toEqual(['if', ['project', 'ch'], ['>', 'stride', 1], null]);
    const m = r.ast.models[0];
    expect(m.params.map((p) => p.name.name)).toEqual(['columns']);
    expect(m.body.map((s) => s.kind)).toEqual(['setting', 'setting', 'stage']);
    const stage = m.body[2];
    if (stage.kind !== 'stage' || stage.body[0].kind !== 'if') throw new Error('shape');
    expect(stage.body[0].otherwise?.[0].kind).toBe('if');
  });

  it('records exact spans', () => {
    const text = 'model m {\n  conv 3x3 64 /2\n}';
    const c = call(parse(text, 't.sofar').ast.models[0].body[0]);
    expect(c.span).toMatchObject({ file: 't.sofar', line: 2, column: 3 });
    expect(text.substr(c.span.offset, c.span.length)).toBe('conv 3x3 64 /2');
    expect(text.substr(c.args[2].span.offset, c.args[2].span.length)).toBe('/2');
  });

  it('parses every spec of the zoo without a diagnostic', () => {
    const files = ['specs', 'specs/fashion', 'specs/larq'].flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.sofar')).map((f) => join(d, f)));
    expect(files.length).toBe(29); // 10 + 5 Fashion-MNIST + the 14 Larq Zoo models
    for (const f of files) expect(parse(readFileSync(f, 'utf8'), f).diagnostics).toEqual([]);
  });
});

describe('invalid input', () => {
  it('reports several syntax errors in one run, each at its place', () => {
    const text = 'model m {\n  conv 3x3 16 /\n  relu @\n  bn(\n}\n';
    const r = parse(text, 'bad.sofar');
    const where = r.diagnostics.map((d) => [d.span?.line, d.span?.column, d.message]);
    expect(where).toEqual([
      [3, 8, "unexpected character '@'"],
      [2, 16, expect.stringMatching(/^unexpected end of line in an expression/)],
      [5, 1, expect.stringMatching(/^unexpected '}' in an expression/)],
    ]);
    expect(r.diagnostics.every((d) => d.code === 'syntax' && d.severity === 'error')).toBe(true);
    expect(r.diagnostics.map((d) => d.hint)).toEqual([
      'remove it or put it in a # comment',
      expect.stringMatching(/^a value is missing at the end of the line/),
      expect.stringMatching(/^a value is a number/),
    ]);
    expect(parse('model m {\n  bn momentum=\n}\n', 'bad.sofar').diagnostics[0].hint).toMatch(/^a value is missing/);
  });

  it('reports what follows a } too many once, as outside any model', () => {
    const r = parse('model m {\n  stage s { relu }}\n  global_avgpool\n  dense 10\n}\n', 'bad.sofar');
    expect(r.diagnostics.map((d) => [d.span?.line, d.span?.column, d.message])).toEqual([[3, 3, "'global_avgpool' is outside any model or block"]]);
    expect(r.diagnostics[0].hint).toContain('a } too many ends the model early');
  });

  it('explains look-alike characters and unterminated strings', () => {
    const r = parse('model m {\n  conv 3×3 8 padding="same\n  hardtanh min=−1\n}\n', 'bad.sofar');
    expect(r.diagnostics.map((d) => [d.span?.line, d.span?.column, d.message, d.hint])).toEqual([
      [2, 9, "unexpected character '×'", 'write sizes with the letter x, e.g. 3x3'],
      [2, 22, 'unterminated string', 'close it with " on the same line'],
      [3, 16, "unexpected character '−'", 'write a minus sign with the ASCII -'],
    ]);
  });

  it('recovers inside a model to find errors in later blocks', () => {
    const r = parse('model m {\n  conv 3x3 = 4\n}\nblock b(x {\n  relu\n}\nmodel {\n}\n', 'bad.sofar');
    expect(r.diagnostics.length).toBeGreaterThanOrEqual(3);
    expect(new Set(r.diagnostics.map((d) => d.span?.line)).size).toBeGreaterThanOrEqual(3);
  });

  it('reports an unclosed brace at the end of the file', () => {
    const r = parse('model m {\n  conv 3x3 16\n', 'bad.sofar');
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0].message).toBe("expected '}', found end of file");
    expect(r.diagnostics[0].hint).toBe('every { needs a matching }');
  });

  it('does not accept a keyword as a name', () => {
    const r = parse('block model() { relu }', 'bad.sofar');
    expect(r.diagnostics[0]).toMatchObject({ code: 'syntax', span: { line: 1, column: 7 } });
  });
});
