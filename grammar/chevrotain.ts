/**
 * chevrotain, loaded from the single-file ES module build its package ships (lib/chevrotain.mjs)
 * instead of its entry point, which imports some 600 lodash-es modules one file at a time: ~0.9 s of
 * every `sofar` start against ~0.05 s for the bundle. Same code, same API; the entry point is the
 * fallback should a later version stop shipping the bundle. Everything in grammar/ imports chevrotain
 * through here, so tokens and parsers all come from one copy.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Chevrotain from 'chevrotain';

/** The package folder: its exports map names only the entry point, which lives under lib/. */
export const CHEVROTAIN_DIR = ((entry: string) => entry.slice(0, entry.lastIndexOf(`${sep}lib${sep}`)))(
  createRequire(import.meta.url).resolve('chevrotain'),
);

const bundle = join(CHEVROTAIN_DIR, 'lib', 'chevrotain.mjs');

const chevrotain: typeof Chevrotain = existsSync(bundle)
  ? ((await import(pathToFileURL(bundle).href)) as typeof Chevrotain)
  : await import('chevrotain');

export const { createToken, Lexer, EmbeddedActionsParser, createSyntaxDiagramsCode } = chevrotain;
