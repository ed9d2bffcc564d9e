/**
 * Writes the grammar's railroad diagrams to one self-contained HTML page (chevrotain draws them from
 * the parser's serialised grammar; its scripts and styles are inlined from the installed package so
 * the page works offline). `npm run grammar:diagrams` → docs/grammar.html. A build step, kept out of
 * grammar/ so that grammar/ writes no files and imports nothing from src/.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHEVROTAIN_DIR, createSyntaxDiagramsCode } from '../grammar/chevrotain.js';
import { parserInstance } from '../grammar/parser.js';
import { replaceFileAtomic } from '../src/io/atomic.js';

const RESOURCES = 'sofar-diagrams/';
const local = (path: string) => readFileSync(join(CHEVROTAIN_DIR, 'diagrams', path), 'utf8');

let html = createSyntaxDiagramsCode(parserInstance().getSerializedGastProductions(), { resourceBase: RESOURCES, css: `${RESOURCES}diagrams.css` });
html = html
  .replace(/<link rel='stylesheet' href='sofar-diagrams\/([^']+)'>/g, (_m, path: string) => `<style>\n${local(path)}\n</style>`)
  .replace(/<script src='sofar-diagrams\/([^']+)'><\/script>/g, (_m, path: string) => `<script>\n${local(path)}\n</script>`);
if (html.includes(RESOURCES)) throw new Error('internal: a diagram resource was not inlined');

const out = process.argv[2] ?? 'docs/grammar.html';
replaceFileAtomic(out, html);
process.stdout.write(`wrote ${out}\n`);
