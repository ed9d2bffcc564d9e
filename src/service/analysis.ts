/**
 * One analysis of a spec's text for the language service (the editor, the playground): the syntax tree,
 * the tokens, every model's graph and the diagnostics, from the same parser, elaborator and checker as
 * `sofar check`. Free of Node APIs, so it also runs in the browser. Works on partial text: whatever
 * parsed is there, with the diagnostics of the rest.
 */
import type { IToken } from 'chevrotain';
import { parse, type BlockDecl, type Identifier, type ModelDecl, type SourceFile, type Statement } from '../../grammar/index.js';
import { tokenize } from '../../grammar/lexer.js';
import { compile } from '../compile-text.js';
import type { Diagnostic } from '../diagnostics.js';
import type { Graph, GraphNode } from '../graph/types.js';

export interface Analysis {
  text: string;
  file: string;
  ast: SourceFile;
  /** Every token, newlines inside brackets left out (as the parser sees them). */
  tokens: IToken[];
  /** The graph of each model that elaborated, by model name. */
  graphs: Map<string, Graph>;
  diagnostics: Diagnostic[];
}

export function analyze(text: string, file: string): Analysis {
  const { ast } = parse(text, file);
  const { tokens } = tokenize(text);
  const graphs = new Map<string, Graph>();
  const diagnostics: Diagnostic[] = [];
  const seen = new Set<string>();
  const add = (ds: readonly Diagnostic[]) => {
    for (const d of ds) {
      const key = `${d.severity}|${d.span?.offset}|${d.message}`;
      if (!seen.has(key)) seen.add(key), diagnostics.push(d);
    }
  };
  const models = ast.models.map((m) => m.name.name);
  if (models.length <= 1) {
    const result = compile(text, file);
    add(result.diagnostics);
    if (result.graph) graphs.set(result.graph.name, result.graph);
  } else {
    for (const model of models) {
      const result = compile(text, file, { model });
      add(result.diagnostics);
      if (result.graph) graphs.set(model, result.graph);
    }
  }
  return { text, file, ast, tokens, graphs, diagnostics };
}

/** The token that contains `offset` (or ends right at it, where a cursor after a word sits). */
export function tokenAt(a: Analysis, offset: number): IToken | undefined {
  return a.tokens.find((t) => t.image !== '\n' && t.startOffset <= offset && offset <= t.endOffset! + 1 && (offset <= t.endOffset! || /\w$/.test(t.image)));
}

/** The graph nodes made by the statement whose span holds `offset` (one per instance of a block's layer). */
export function nodesAt(a: Analysis, offset: number): GraphNode[] {
  const hits: GraphNode[] = [];
  let best = Infinity;
  for (const graph of a.graphs.values()) {
    for (const node of graph.nodes) {
      const s = node.source;
      if (!s || s.file !== a.file || offset < s.offset || offset > s.offset + s.length) continue;
      // The innermost statement wins: a layer inside a block call, not the call around it.
      if (s.length < best) (best = s.length), (hits.length = 0);
      if (s.length === best) hits.push(node);
    }
  }
  return hits;
}

/** Every block declaration of the file, file-level and inside models. */
export function allBlocks(ast: SourceFile): BlockDecl[] {
  return [...ast.blocks, ...ast.models.flatMap((m) => m.blocks)];
}

/** A statement and its nested bodies, depth first. */
export function* walkStatements(body: readonly Statement[]): Generator<Statement> {
  for (const s of body) {
    // The parser's error recovery can leave a hole where a statement broke off (`bn momentum=`).
    if (!s) continue;
    yield s;
    if (s.kind === 'call' && s.body) yield* walkStatements(s.body);
    if (s.kind === 'stage' || s.kind === 'for') yield* walkStatements(s.body);
    if (s.kind === 'if') {
      yield* walkStatements(s.then);
      if (s.otherwise) yield* walkStatements(s.otherwise);
    }
  }
}

/** A declaration a name can refer to. */
export interface Declaration {
  kind: 'block' | 'let' | 'param' | 'loop';
  name: Identifier;
  /** The region in which the name refers to this declaration. */
  scope: { offset: number; end: number };
  block?: BlockDecl;
}

const spanEnd = (s: { offset: number; length: number }) => s.offset + s.length;

/** Every declaration of the file: blocks, model and block parameters, `let` names and loop variables. */
export function declarations(ast: SourceFile, textLength: number): Declaration[] {
  const out: Declaration[] = [];
  const whole = { offset: 0, end: textLength };
  const bodies = (owner: { span: { offset: number; length: number } }, body: readonly Statement[]) => {
    for (const s of walkStatements(body)) {
      if (s.kind === 'let') out.push({ kind: 'let', name: s.name, scope: { offset: s.span.offset, end: spanEnd(owner.span) } });
      if (s.kind === 'for') out.push({ kind: 'loop', name: s.variable, scope: { offset: s.span.offset, end: spanEnd(s.span) } });
    }
  };
  const block = (b: BlockDecl, scope: { offset: number; end: number }) => {
    out.push({ kind: 'block', name: b.name, scope, block: b });
    for (const p of b.params) out.push({ kind: 'param', name: p.name, scope: { offset: b.span.offset, end: spanEnd(b.span) } });
    bodies(b, b.body);
  };
  for (const b of ast.blocks) block(b, whole);
  for (const m of ast.models) modelDeclarations(m, block, bodies, out);
  return out;
}

function modelDeclarations(
  m: ModelDecl,
  block: (b: BlockDecl, scope: { offset: number; end: number }) => void,
  bodies: (owner: { span: { offset: number; length: number } }, body: readonly Statement[]) => void,
  out: Declaration[],
): void {
  const scope = { offset: m.span.offset, end: spanEnd(m.span) };
  for (const p of m.params) out.push({ kind: 'param', name: p.name, scope });
  for (const b of m.blocks) block(b, scope);
  bodies(m, m.body);
}

/** The declaration `name` refers to at `offset`: the innermost scope, the latest declaration before it. */
export function resolveName(decls: readonly Declaration[], name: string, offset: number): Declaration | undefined {
  let best: Declaration | undefined;
  for (const d of decls) {
    if (d.name.name !== name || offset < d.scope.offset || offset > d.scope.end) continue;
    if (!best || d.scope.end - d.scope.offset < best.scope.end - best.scope.offset || (d.scope.end - d.scope.offset === best.scope.end - best.scope.offset && d.name.span.offset > best.name.span.offset)) best = d;
  }
  return best;
}

/** The `#` comment lines right above a line (a block's doc comment), without the `#`. */
export function docCommentAbove(text: string, line: number): string {
  const lines = text.split('\n');
  const doc: string[] = [];
  for (let i = line - 2; i >= 0; i--) {
    const m = /^\s*#\s?(.*)$/.exec(lines[i]);
    if (!m) break;
    doc.unshift(m[1]);
  }
  return doc.join('\n');
}
