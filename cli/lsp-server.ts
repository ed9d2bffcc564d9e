/**
 * The language server behind `sofar lsp --stdio`. It adds nothing but the protocol to src/service (the same
 * parser, elaborator and checker as `sofar check`): diagnostics while typing (debounced), hover,
 * completion, go to definition, references, rename of a block, the outline, inlay hints with each line's
 * output shape, and formatting.
 */
import {
  CompletionItemKind,
  createConnection,
  DiagnosticSeverity,
  DocumentSymbol,
  InlayHint,
  ProposedFeatures,
  SymbolKind,
  TextDocuments,
  TextDocumentSyncKind,
  TextEdit,
  type Connection,
  type Diagnostic as LspDiagnostic,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { Diagnostic } from '../src/diagnostics.js';
import { analyze, type Analysis } from '../src/service/analysis.js';
import { completionsAt, type CompletionKind } from '../src/service/completion.js';
import { formatSpec } from '../src/service/format.js';
import { hoverAt } from '../src/service/hover.js';
import { definitionAt, inlayHints, outline, referencesAt, renameBlockAt, type OutlineSymbol, type TextRange } from '../src/service/navigation.js';

/** Diagnostics wait for this pause in typing. */
const DEBOUNCE_MS = 150;

const COMPLETION_KINDS: Record<CompletionKind, CompletionItemKind> = {
  layer: CompletionItemKind.Function,
  block: CompletionItemKind.Module,
  argument: CompletionItemKind.Property,
  quantizer: CompletionItemKind.EnumMember,
  keyword: CompletionItemKind.Keyword,
  name: CompletionItemKind.Variable,
};

const SYMBOL_KINDS: Record<OutlineSymbol['kind'], SymbolKind> = { model: SymbolKind.Class, stage: SymbolKind.Namespace, block: SymbolKind.Function };

/** The file name diagnostics and spans use for a document: its path for file URIs, else the URI. */
const fileOf = (uri: string) => (uri.startsWith('file://') ? decodeURIComponent(uri.slice('file://'.length)) : uri);

export function startServer(connection: Connection): void {
  const documents = new TextDocuments(TextDocument);
  const cache = new Map<string, { version: number; analysis: Analysis }>();
  const timers = new Map<string, NodeJS.Timeout>();

  const analysisOf = (doc: TextDocument): Analysis => {
    const hit = cache.get(doc.uri);
    if (hit?.version === doc.version) return hit.analysis;
    const analysis = analyze(doc.getText(), fileOf(doc.uri));
    cache.set(doc.uri, { version: doc.version, analysis });
    return analysis;
  };
  const range = (doc: TextDocument, r: TextRange) => ({ start: doc.positionAt(r.offset), end: doc.positionAt(r.offset + r.length) });
  const toLsp = (doc: TextDocument, d: Diagnostic): LspDiagnostic => {
    const span = d.span && d.span.file === fileOf(doc.uri) ? d.span : undefined;
    return {
      range: span ? range(doc, { offset: span.offset, length: Math.max(1, span.length) }) : { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
      severity: d.severity === 'error' ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning,
      code: d.code,
      source: 'sofar',
      message: d.hint ? `${d.message}\nhint: ${d.hint}` : d.message,
    };
  };
  const publish = (doc: TextDocument) => {
    const analysis = analysisOf(doc);
    void connection.sendDiagnostics({ uri: doc.uri, version: doc.version, diagnostics: analysis.diagnostics.map((d) => toLsp(doc, d)) });
  };
  const schedule = (doc: TextDocument) => {
    clearTimeout(timers.get(doc.uri));
    timers.set(doc.uri, setTimeout(() => publish(doc), DEBOUNCE_MS));
  };
  const withDoc = <T>(uri: string, fn: (doc: TextDocument, analysis: Analysis) => T): T | null => {
    const doc = documents.get(uri);
    return doc ? fn(doc, analysisOf(doc)) : null;
  };

  connection.onInitialize(() => ({
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      hoverProvider: true,
      completionProvider: { triggerCharacters: [' ', '(', ',', '='] },
      definitionProvider: true,
      referencesProvider: true,
      renameProvider: true,
      documentSymbolProvider: true,
      inlayHintProvider: true,
      documentFormattingProvider: true,
    },
    serverInfo: { name: 'sofar' },
  }));

  documents.onDidOpen(({ document }) => publish(document));
  documents.onDidChangeContent(({ document }) => schedule(document));
  documents.onDidClose(({ document }) => {
    clearTimeout(timers.get(document.uri));
    cache.delete(document.uri);
    void connection.sendDiagnostics({ uri: document.uri, diagnostics: [] });
  });

  connection.onHover(({ textDocument, position }) =>
    withDoc(textDocument.uri, (doc, a) => {
      const hover = hoverAt(a, doc.offsetAt(position));
      return hover ? { contents: { kind: 'markdown', value: hover.markdown }, range: range(doc, hover.range) } : null;
    }),
  );
  connection.onCompletion(({ textDocument, position }) =>
    withDoc(textDocument.uri, (doc, a) =>
      completionsAt(a, doc.offsetAt(position)).map((c) => ({ label: c.label, kind: COMPLETION_KINDS[c.kind], detail: c.detail, ...(c.insert ? { insertText: c.insert } : {}) })),
    ) ?? [],
  );
  connection.onDefinition(({ textDocument, position }) =>
    withDoc(textDocument.uri, (doc, a) => {
      const target = definitionAt(a, doc.offsetAt(position));
      return target ? { uri: doc.uri, range: range(doc, target) } : null;
    }),
  );
  connection.onReferences(({ textDocument, position }) =>
    withDoc(textDocument.uri, (doc, a) => referencesAt(a, doc.offsetAt(position)).map((r) => ({ uri: doc.uri, range: range(doc, r) }))) ?? [],
  );
  connection.onRenameRequest(({ textDocument, position, newName }) =>
    withDoc(textDocument.uri, (doc, a) => {
      const result = renameBlockAt(a, doc.offsetAt(position), newName);
      if ('error' in result) throw new Error(result.error);
      return { changes: { [doc.uri]: result.edits.map((r) => TextEdit.replace(range(doc, r), newName)) } };
    }),
  );
  connection.onDocumentSymbol(({ textDocument }) =>
    withDoc(textDocument.uri, (doc, a) => {
      const symbol = (s: OutlineSymbol): DocumentSymbol => DocumentSymbol.create(s.name, s.kind, SYMBOL_KINDS[s.kind], range(doc, s.range), range(doc, s.selection), s.children.map(symbol));
      return outline(a).map(symbol);
    }) ?? [],
  );
  connection.languages.inlayHint.on(({ textDocument }) =>
    withDoc(textDocument.uri, (doc, a) => inlayHints(a).map((h) => InlayHint.create(doc.positionAt(h.offset), h.label))) ?? [],
  );
  connection.onDocumentFormatting(({ textDocument }) =>
    withDoc(textDocument.uri, (doc) => {
      const result = formatSpec(doc.getText(), fileOf(doc.uri));
      if (!result.ok || result.text === doc.getText()) return [];
      return [TextEdit.replace({ start: { line: 0, character: 0 }, end: doc.positionAt(doc.getText().length) }, result.text)];
    }) ?? [],
  );

  documents.listen(connection);
  connection.listen();
}

/** Serves on stdin/stdout until the editor ends the session. */
export function serveStdio(): void {
  startServer(createConnection(ProposedFeatures.all, process.stdin, process.stdout));
}
