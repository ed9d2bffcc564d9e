/**
 * Navigation over one file: go to the definition of a block, parameter, `let` name or loop variable;
 * its references; renaming a block; the outline (models, stages, blocks); and inlay hints with each
 * statement's output shape.
 */
import { tokenAt, allBlocks, declarations, resolveName, walkStatements, type Analysis, type Declaration } from './analysis.js';

export interface TextRange {
  offset: number;
  length: number;
}

const rangeOf = (id: { span: { offset: number; length: number } }): TextRange => ({ offset: id.span.offset, length: id.span.length });

function declarationAt(a: Analysis, offset: number, decls: readonly Declaration[] = declarations(a.ast, a.text.length)): Declaration | undefined {
  const token = tokenAt(a, offset);
  if (!token || !/^[A-Za-z_]/.test(token.image)) return undefined;
  return resolveName(decls, token.image, offset);
}

export function definitionAt(a: Analysis, offset: number): TextRange | null {
  const decl = declarationAt(a, offset);
  return decl ? rangeOf(decl.name) : null;
}

/** Every mention of the declaration under `offset`, the declaration included. */
export function referencesAt(a: Analysis, offset: number): TextRange[] {
  const decls = declarations(a.ast, a.text.length);
  const decl = declarationAt(a, offset, decls);
  if (!decl) return [];
  return a.tokens
    .filter((t) => t.image === decl.name.name && resolveName(decls, t.image, t.startOffset) === decl)
    .map((t) => ({ offset: t.startOffset, length: t.image.length }));
}

/** The edits that rename the block under `offset`, or why not. */
export function renameBlockAt(a: Analysis, offset: number, newName: string): { edits: TextRange[] } | { error: string } {
  const decl = declarationAt(a, offset);
  if (!decl || decl.kind !== 'block') return { error: 'only a block can be renamed: put the cursor on its name' };
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(newName)) return { error: `'${newName}' is not a name` };
  if (allBlocks(a.ast).some((b) => b.name.name === newName)) return { error: `a block '${newName}' exists already` };
  return { edits: referencesAt(a, offset) };
}

export type SymbolKind = 'model' | 'stage' | 'block';

export interface OutlineSymbol {
  name: string;
  kind: SymbolKind;
  range: TextRange;
  selection: TextRange;
  children: OutlineSymbol[];
}

export function outline(a: Analysis): OutlineSymbol[] {
  const block = (b: ReturnType<typeof allBlocks>[number]): OutlineSymbol => ({ name: b.name.name, kind: 'block', range: rangeOf(b), selection: rangeOf(b.name), children: [] });
  return [
    ...a.ast.blocks.map(block),
    ...a.ast.models.map((m) => ({
      name: m.name.name,
      kind: 'model' as const,
      range: rangeOf(m),
      selection: rangeOf(m.name),
      children: [
        ...m.blocks.map(block),
        ...[...walkStatements(m.body)].flatMap((s) => {
          if (s.kind !== 'stage') return [];
          const name = a.text.slice(s.name.span.offset, s.name.span.offset + s.name.span.length);
          return [{ name, kind: 'stage' as const, range: rangeOf(s), selection: rangeOf(s.name), children: [] }];
        }),
      ].sort((x, y) => x.range.offset - y.range.offset),
    })),
  ];
}

export interface InlayHint {
  /** Where the hint goes: the end of the statement's first line. */
  offset: number;
  label: string;
}

/** Each layer or call line's output shape (every distinct shape its instances have, up to three). */
export function inlayHints(a: Analysis): InlayHint[] {
  // Per line, per instance (the node's scope): the last node made is the statement's output.
  const lastByInstance = new Map<number, Map<string, number[]>>();
  for (const graph of a.graphs.values()) {
    for (const node of graph.nodes) {
      const s = node.source;
      if (!s || s.file !== a.file) continue;
      const end = a.text.indexOf('\n', s.offset);
      const at = end < 0 ? a.text.length : end;
      const instances = lastByInstance.get(at) ?? new Map<string, number[]>();
      instances.set(`${graph.name}|${node.name.slice(0, node.name.lastIndexOf('/') + 1)}`, node.shape);
      lastByInstance.set(at, instances);
    }
  }
  return [...lastByInstance.entries()]
    .sort((x, y) => x[0] - y[0])
    .map(([offset, instances]) => {
      const shapes = [...new Set([...instances.values()].map((shape) => shape.join('×')))];
      return { offset, label: ` → ${shapes.slice(0, 3).join(' | ')}${shapes.length > 3 ? ' | …' : ''}` };
    });
}
