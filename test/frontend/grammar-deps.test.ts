/**
 * The pipeline runs one way, grammar/ → src/ → backends/ → cli/: grammar/ depends on nothing of
 * SoFAr's, only on packages and Node's builtins. Every module reference counts: imports and
 * re-exports, `import type`, `import()` calls, `import('…')` types and `require()`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { expect, it } from 'vitest';

const GRAMMAR = 'grammar';
const SELF = JSON.parse(readFileSync('package.json', 'utf8')).name as string;

/** Computed `import()` targets that are known to be a package: chevrotain's single-file bundle. */
const COMPUTED: Record<string, string[]> = {
  [join(GRAMMAR, 'chevrotain.ts')]: ['pathToFileURL(bundle).href'],
};

/** Every module reference in a source file: the specifier text, or `computed: <expression>`. */
function moduleReferences(path: string): string[] {
  const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const specifier = (node: ts.Node | undefined) => {
    if (!node) return;
    found.push(ts.isStringLiteralLike(node) ? node.text : `computed: ${node.getText(source)}`);
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) specifier(node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) specifier(node.moduleReference.expression);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) specifier(node.argument.literal);
    else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === 'require')) specifier(node.arguments[0]);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Why a reference from `file` leaves the allowed set, or null when it is a package or a builtin. */
function outside(file: string, reference: string): string | null {
  if (reference.startsWith('computed: ')) return COMPUTED[file]?.includes(reference.slice('computed: '.length)) ? null : 'a computed module name';
  if (reference.startsWith('.')) {
    const target = relative(resolve(GRAMMAR), resolve(dirname(file), reference));
    return target.startsWith('..') ? `outside grammar/: ${join(GRAMMAR, target)}` : null;
  }
  if (reference === SELF || reference.startsWith(`${SELF}/`)) return 'SoFAr by its package name';
  if (reference.startsWith('/') || /^[a-z][a-z0-9+.-]*:/i.test(reference)) return reference.startsWith('node:') ? null : 'a path or URL';
  return null; // a package
}

it('grammar/ imports nothing from src/ or anywhere else of SoFAr: only packages and node: builtins', () => {
  const files = readdirSync(GRAMMAR, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.[cm]?[tj]s$/.test(f))
    .map((f) => join(GRAMMAR, f));
  expect(files).toContain(join(GRAMMAR, 'parser.ts'));
  const offenders = files.flatMap((file) =>
    moduleReferences(file).flatMap((reference) => {
      const why = outside(file, reference);
      return why ? [`${file}: '${reference}' (${why})`] : [];
    }),
  );
  expect(offenders).toEqual([]);
});

it('sees every kind of module reference', () => {
  const refs = moduleReferences(join(GRAMMAR, 'chevrotain.ts'));
  expect(refs).toEqual(expect.arrayContaining(['node:fs', 'chevrotain', 'computed: pathToFileURL(bundle).href']));
  expect(outside(join(GRAMMAR, 'ast.ts'), '../src/diagnostics.js')).toBe('outside grammar/: src/diagnostics.js');
  expect(outside(join(GRAMMAR, 'ast.ts'), './diagnostic.js')).toBeNull();
  expect(outside(join(GRAMMAR, 'ast.ts'), `${SELF}/onnx`)).toBe('SoFAr by its package name');
  expect(outside(join(GRAMMAR, 'ast.ts'), 'computed: someName')).toBe('a computed module name');
});
