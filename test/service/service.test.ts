/**
 * The language service beside the protocol: the formatter keeps every zoo spec's graph (and is
 * idempotent), lays out a messy spec canonically and refuses broken text; the analysis and every query
 * answer on any prefix of any zoo spec without throwing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compile-text.js';
import { analyze } from '../../src/service/analysis.js';
import { completionsAt } from '../../src/service/completion.js';
import { formatSpec } from '../../src/service/format.js';
import { hoverAt } from '../../src/service/hover.js';
import { definitionAt, inlayHints, outline, referencesAt } from '../../src/service/navigation.js';

function specsUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? specsUnder(join(dir, e.name)) : e.name.endsWith('.sofar') ? [join(dir, e.name)] : []));
}
const ZOO = specsUnder('specs').sort();

/** The graph as data, without source locations (formatting moves lines). */
function graphWithoutSources(text: string, file: string): string {
  const result = compile(text, file);
  expect(result.graph, result.diagnostics.map((d) => d.message).join('\n')).toBeDefined();
  return JSON.stringify(result.graph, (key, value) => (key === 'source' ? undefined : value));
}

describe('sofar fmt', () => {
  it.each(ZOO)('%s is formatted, and formatting it keeps its graph', (spec) => {
    const text = readFileSync(spec, 'utf8');
    const once = formatSpec(text, spec);
    if (!once.ok) throw new Error(once.reason);
    expect(once.text).toBe(text); // CI keeps specs/ formatted
    // A messy copy: other indentation and spacing, extra blank lines; the same graph after formatting.
    const messy = text.replace(/^ {2}/gm, '    ').replace(/, /g, ' ,').replace(/ = /g, '=').replace(/\n\n/g, '\n\n\n');
    const formatted = formatSpec(messy, spec);
    if (!formatted.ok) throw new Error(formatted.reason);
    expect(graphWithoutSources(formatted.text, spec)).toBe(graphWithoutSources(text, spec));
    expect(formatSpec(formatted.text, spec)).toEqual({ ok: true, text: formatted.text });
  });

  it('lays out a messy spec in the one canonical way', () => {
    const messy = [
      '',
      '# doc',
      'model   m( width=8,join = mean ) {',
      '    input 1x28x28   # C×H×W',
      '  classes 10 # ten',
      '  binarize activations=approx_sign , weights = ste_sign',
      '',
      '',
      '  block u(ch,stride=1)=residual(shortcut=p(ch) if stride>1 else none){',
      'bconv 3x3 ch /stride',
      '      bn momentum=0.8',
      '',
      '  }',
      '  block p(ch) { avgpool 2x2 /2 padding=same ; conv 1x1 ch ; bn }',
      '  let widths=[width ,2*width]',
      '  for i in 0..1 { u(widths[i],stride=2 if i>0 else 1)*2 }',
      '  hardtanh min=-2 max=+2',
      '  global_avgpool; dense (5*2)',
      '}',
      '',
      '',
    ].join('\n');
    const canonical = [
      '# doc',
      'model m(width = 8, join = mean) {',
      '  input 1x28x28  # C×H×W',
      '  classes 10     # ten',
      '  binarize activations = approx_sign, weights = ste_sign',
      '',
      '  block u(ch, stride = 1) = residual(shortcut = p(ch) if stride > 1 else none) {',
      '    bconv 3x3 ch /stride',
      '    bn momentum=0.8',
      '  }',
      '  block p(ch) { avgpool 2x2 /2 padding=same; conv 1x1 ch; bn }',
      '  let widths = [width, 2 * width]',
      '  for i in 0..1 { u(widths[i], stride = 2 if i > 0 else 1) * 2 }',
      '  hardtanh min=-2 max=+2',
      '  global_avgpool; dense (5 * 2)',
      '}',
      '',
    ].join('\n');
    expect(formatSpec(messy, 'm.sofar')).toEqual({ ok: true, text: canonical });
    expect(graphWithoutSources(canonical, 'm.sofar')).toBe(graphWithoutSources(messy, 'm.sofar'));
  });

  it('leaves a spec with a syntax error as it is, saying where', () => {
    const result = formatSpec('model m {\n  input 1x8x8\n  conv 3x3 (4 +\n}\n', 'bad.sofar');
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(/^bad\.sofar:\d+:\d+: /);
  });
});

describe('the language service on partial text', () => {
  it('answers every query on every line prefix (and every 9th character prefix) of every zoo spec', () => {
    let queries = 0;
    for (const spec of ZOO) {
      const text = readFileSync(spec, 'utf8');
      const cuts = new Set<number>();
      for (let i = 0; i <= text.length; i += 9) cuts.add(i);
      for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) cuts.add(i);
      for (const cut of cuts) {
        const partial = text.slice(0, cut);
        const a = analyze(partial, spec);
        // Query where the user is typing, and in the middle of what is there.
        for (const offset of [cut, Math.floor(cut / 2)]) {
          hoverAt(a, offset);
          completionsAt(a, offset);
          definitionAt(a, offset);
          referencesAt(a, offset);
          queries++;
        }
        outline(a);
        inlayHints(a);
      }
    }
    expect(queries).toBeGreaterThan(1000);
  }, 240_000);
});
