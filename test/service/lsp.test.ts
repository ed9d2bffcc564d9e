/**
 * The language server driven over JSON-RPC as an editor drives it (initialize, didOpen, didChange,
 * hover, completion, definition, references, rename, symbols, inlay hints, formatting), on a zoo spec
 * and on broken text; its diagnostics are `sofar check`'s, message and span.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../../src/compile-text.js';
import { LspClient } from '../helpers/lsp-client.js';

const SPEC = 'specs/fashion/bireal-small.sofar';
const TEXT = readFileSync(SPEC, 'utf8');
const URI = `file://${resolve(SPEC)}`;
const FILE = resolve(SPEC);
const LINES = TEXT.split('\n');

/** The LSP position of the `nth` occurrence of `needle` on the 1-based `line`, plus `shift` characters. */
function at(line: number, needle: string, shift = 0): { line: number; character: number } {
  const character = LINES[line - 1].indexOf(needle);
  if (character < 0) throw new Error(`'${needle}' is not on line ${line}`);
  return { line: line - 1, character: character + shift };
}

interface LspDiagnostic {
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  message: string;
  severity: number;
}
type Published = { uri: string; version?: number; diagnostics: LspDiagnostic[] };

describe('sofar lsp --stdio', () => {
  let client: LspClient;
  const doc = { textDocument: { uri: URI } };

  beforeAll(async () => {
    client = new LspClient();
    const init = await client.initialize();
    expect(init.capabilities).toMatchObject({ hoverProvider: true, definitionProvider: true, documentFormattingProvider: true, inlayHintProvider: true });
  });
  afterAll(async () => {
    expect(await client.close()).toBe(0);
  });

  it('publishes no diagnostics for a clean spec, and check’s diagnostics for a broken edit', async () => {
    const clean = client.next<Published>('textDocument/publishDiagnostics');
    client.notify('textDocument/didOpen', { textDocument: { uri: URI, languageId: 'sofar', version: 1, text: TEXT } });
    expect((await clean).diagnostics).toEqual([]);

    const broken = TEXT.replace('unit(2 * width, stride = 2)', 'unit(2 * width, strde = 2)');
    const expected = compile(broken, FILE).diagnostics;
    expect(expected.length).toBeGreaterThan(0);
    const published = client.next<Published>('textDocument/publishDiagnostics', (p) => p.version === 3);
    // Two quick edits: the debounce publishes once, for the last.
    client.notify('textDocument/didChange', { textDocument: { uri: URI, version: 2 }, contentChanges: [{ text: TEXT + '\n' }] });
    client.notify('textDocument/didChange', { textDocument: { uri: URI, version: 3 }, contentChanges: [{ text: broken }] });
    const got = (await published).diagnostics;
    expect(got.map((d) => d.message.split('\n')[0])).toEqual(expected.map((d) => d.message));
    const span = expected[0].span!;
    expect(got[0].range.start).toEqual({ line: span.line - 1, character: span.column - 1 });
    expect(got[0].range.end.character - got[0].range.start.character).toBe(span.length);
    expect(got[0].message).toMatch(/hint: did you mean 'stride'\?/);

    const fixed = client.next<Published>('textDocument/publishDiagnostics', (p) => p.version === 4);
    client.notify('textDocument/didChange', { textDocument: { uri: URI, version: 4 }, contentChanges: [{ text: TEXT }] });
    expect((await fixed).diagnostics).toEqual([]);
  });

  it('hovers a layer with each instance’s shape, precision, parameters and MACs', async () => {
    const hover = await client.request<{ contents: { value: string } }>('textDocument/hover', { ...doc, position: at(14, 'bconv', 2) });
    const text = hover.contents.value;
    // stage1/unit1/bconv: a 3×3 binary conv 32 → 32 on 28×28: 9,216 1-bit weights, 28·28·9,216 = 7,225,344 binary MACs.
    expect(text).toContain('`stage1/unit1/bconv` conv');
    expect(text).toContain('→ **32×28×28**');
    expect(text).toContain('9,216 params (9,216 1-bit)');
    expect(text).toContain('7,225,344 binary MACs');
    expect(text).toMatch(/and \d+ more instances/);
  });

  it('hovers a quantizer with its gradient and a block with its signature', async () => {
    const quantizer = await client.request<{ contents: { value: string } }>('textDocument/hover', { ...doc, position: at(11, 'approx_sign', 3) });
    expect(quantizer.contents.value).toContain('max(0, 2 − 2|x|)');
    const block = await client.request<{ contents: { value: string } }>('textDocument/hover', { ...doc, position: at(24, 'unit', 1) });
    expect(block.contents.value).toContain('block unit(ch, stride = 1) = residual(');
  });

  it('completes a layer’s arguments, the quantizers of a use, and the layers and blocks of the file', async () => {
    type Item = { label: string; insertText?: string };
    const poolArgs = await client.request<Item[]>('textDocument/completion', { ...doc, position: { line: 17, character: LINES[17].length } });
    expect(poolArgs.map((i) => i.label)).toEqual(expect.arrayContaining(['kernel', 'stride', 'padding']));
    expect(poolArgs.find((i) => i.label === 'stride')?.insertText).toBe('stride=');
    expect(poolArgs.map((i) => i.label)).not.toContain('bconv');

    const weights = await client.request<Item[]>('textDocument/completion', { ...doc, position: at(11, 'magnitude_aware_sign') });
    const names = weights.map((i) => i.label);
    expect(names).toContain('magnitude_aware_sign');
    expect(names).not.toContain('approx_sign'); // an activation quantizer only

    const statement = await client.request<Item[]>('textDocument/completion', { ...doc, position: { line: 26, character: 2 } });
    expect(statement.map((i) => i.label)).toEqual(expect.arrayContaining(['bconv', 'global_avgpool', 'unit', 'project', 'residual']));
  });

  it('goes to a block’s definition, finds its references and renames it', async () => {
    const definition = await client.request<{ range: { start: { line: number; character: number } } }>('textDocument/definition', { ...doc, position: at(24, 'unit', 1) });
    expect(definition.range.start).toEqual(at(13, 'unit'));
    const refs = await client.request<unknown[]>('textDocument/references', { ...doc, position: at(17, 'project', 1), context: { includeDeclaration: true } });
    expect(refs).toHaveLength(2);
    const rename = await client.request<{ changes: Record<string, unknown[]> }>('textDocument/rename', { ...doc, position: at(13, 'unit'), newName: 'bireal_unit' });
    expect(rename.changes[URI]).toHaveLength(6); // the declaration and five calls
    await expect(client.request('textDocument/rename', { ...doc, position: at(13, 'unit'), newName: 'project' })).rejects.toThrow(/exists already/);
  });

  it('outlines models, stages and blocks, and shows each line’s output shape', async () => {
    const symbols = await client.request<{ name: string; children: { name: string }[] }[]>('textDocument/documentSymbol', doc);
    expect(symbols.map((s) => s.name)).toEqual(['fashion_bireal_small']);
    expect(symbols[0].children.map((c) => c.name)).toEqual(['unit', 'project', 'stem', 'stage1', 'stage2', 'stage3']);
    const hints = await client.request<{ position: { line: number }; label: string }[]>('textDocument/inlayHint', {
      ...doc,
      range: { start: { line: 0, character: 0 }, end: { line: LINES.length, character: 0 } },
    });
    const line26 = hints.find((h) => h.position.line === 25);
    expect(line26?.label).toBe(' → 128×7×7');
    const dense = hints.find((h) => h.position.line === 27);
    expect(dense?.label).toBe(' → 10');
  });

  it('formats a document into the canonical layout', async () => {
    const ugly = TEXT.replace('  bn\n  }', '      bn\n  }').replace('stage stem { conv 3x3 width; bn }', 'stage stem {conv 3x3 width ;bn}');
    client.notify('textDocument/didChange', { textDocument: { uri: URI, version: 5 }, contentChanges: [{ text: ugly }] });
    const edits = await client.request<{ newText: string }[]>('textDocument/formatting', { ...doc, options: { tabSize: 2, insertSpaces: true } });
    expect(edits).toHaveLength(1);
    expect(edits[0].newText).toBe(TEXT);
  });
});
