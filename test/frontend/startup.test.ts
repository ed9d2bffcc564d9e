/** `sofar` starts fast because chevrotain comes from its single-file bundle (grammar/chevrotain.ts). */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { CHEVROTAIN_DIR, Lexer } from '../../grammar/chevrotain.js';

it('loads the bundle the installed chevrotain ships, not its many-module entry point', async () => {
  expect(existsSync(join(CHEVROTAIN_DIR, 'lib', 'chevrotain.mjs'))).toBe(true);
  const entry = await import('chevrotain');
  expect(Lexer).not.toBe(entry.Lexer); // a different copy: the bundle's
});

it('has no other module import chevrotain values directly (two copies would not share token types)', () => {
  const offenders: string[] = [];
  for (const dir of ['grammar', 'src', 'cli', 'backends']) {
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const path = join(d, e.name);
        if (e.isDirectory()) walk(path);
        else if (path.endsWith('.ts') && path !== join('grammar', 'chevrotain.ts')) {
          const text = readFileSync(path, 'utf8');
          if (/^import (?!type )[^;]*from 'chevrotain'/m.test(text)) offenders.push(path);
        }
      }
    };
    walk(dir);
  }
  expect(offenders).toEqual([]);
});
