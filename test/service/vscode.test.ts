/**
 * The VS Code extension (editors/vscode): its TextMate grammar is what the language's registries make
 * (no drift), its patterns match every keyword, layer and quantizer, the manifest wires the language,
 * grammar and configuration, and the packaged .vsix (built by `.ci/run` with @vscode/vsce) holds them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LAYERS } from '../../src/elaborate/layers.js';
import { QUANTIZERS } from '../../src/quantizers.js';
import { textMateGrammar, textMateGrammarJson } from '../../src/service/textmate.js';
import { skipWithout } from '../helpers/requirements.js';

const EXT = 'editors/vscode';
const grammar = textMateGrammar() as { repository: Record<string, { match?: string; patterns?: { name: string; match: string }[] }> };
const matches = (pattern: string | undefined, word: string) => new RegExp(`^(?:${pattern})$`).test(word);

describe('the VS Code extension', () => {
  it('ships the grammar the registries make (npm run vscode:grammar rewrites it)', () => {
    expect(readFileSync(join(EXT, 'syntaxes/sofar.tmLanguage.json'), 'utf8')).toBe(textMateGrammarJson());
  });

  it('highlights every layer, quantizer and keyword of the language, and sizes before numbers', () => {
    for (const layer of Object.keys(LAYERS)) expect(matches(grammar.repository.layer.match, layer), layer).toBe(true);
    for (const q of Object.keys(QUANTIZERS)) expect(matches(grammar.repository.quantizer.match, q), q).toBe(true);
    const control = grammar.repository.keyword.patterns!.find((p) => p.name === 'keyword.control.sofar')!;
    for (const k of ['model', 'block', 'stage', 'for', 'in', 'let', 'binarize']) expect(matches(control.match, k), k).toBe(true);
    expect(matches(control.match, 'models')).toBe(false);
    expect(new RegExp(grammar.repository.dims.match!).exec('conv 3x3 64')?.[0]).toBe('3x3');
    expect(new RegExp(grammar.repository.comment.match!).exec('bn  # after the conv')?.[0]).toBe('# after the conv');
  });

  it('declares the language, its grammar, configuration and server setting', () => {
    const manifest = JSON.parse(readFileSync(join(EXT, 'package.json'), 'utf8'));
    expect(manifest.contributes.languages[0]).toMatchObject({ id: 'sofar', extensions: ['.sofar'] });
    for (const g of manifest.contributes.grammars) expect(existsSync(join(EXT, g.path))).toBe(true);
    const config = JSON.parse(readFileSync(join(EXT, manifest.contributes.languages[0].configuration), 'utf8'));
    expect(config.comments.lineComment).toBe('#');
    expect(manifest.contributes.configuration.properties['sofar.server.path']).toBeDefined();
    expect(readFileSync(join(EXT, manifest.main), 'utf8')).toContain("'lsp', '--stdio'");
  });

  const vsix = join(EXT, 'sofar.vsix');
  it.skipIf(skipWithout(existsSync(vsix) ? null : `${vsix} is not built (cd ${EXT} && npm ci && npm run package; .ci/run does)`))('is packaged as a .vsix with the client, the grammar and the configuration', () => {
    const listing = spawnSync('unzip', ['-Z1', vsix], { encoding: 'utf8' });
    expect(listing.status).toBe(0);
    const files = listing.stdout.split('\n');
    for (const f of ['extension/package.json', 'extension/extension.js', 'extension/language-configuration.json', 'extension/syntaxes/sofar.tmLanguage.json']) expect(files).toContain(f);
    expect(files.some((f) => f.startsWith('extension/node_modules/vscode-languageclient/'))).toBe(true);
  });
});
