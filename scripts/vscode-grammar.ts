/** Writes the TextMate grammar made from the language's registries into the VS Code extension. */
import { writeFileSync } from 'node:fs';
import { textMateGrammarJson } from '../src/service/textmate.js';

const target = process.argv[2] ?? 'editors/vscode/syntaxes/sofar.tmLanguage.json';
writeFileSync(target, textMateGrammarJson());
process.stderr.write(`wrote ${target}\n`);
