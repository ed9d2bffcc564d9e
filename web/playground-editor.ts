/**
 * The playground's editor: CodeMirror 6 on the language service of `sofar lsp` (src/service/, run in the
 * page, no server): highlighting from the TextMate grammar, hover from hoverAt(), completion from
 * completionsAt(), formatting from formatSpec(), and the diagnostics of analyze() as lint marks (the
 * page computes those once per pause in typing and hands them in with showDiagnostics).
 */
import { autocompletion, type Completion as CmCompletion, type CompletionContext, type CompletionResult } from '@codemirror/autocomplete';
import { setDiagnostics, lintGutter, type Diagnostic as CmDiagnostic } from '@codemirror/lint';
import { EditorState } from '@codemirror/state';
import { EditorView, hoverTooltip, keymap } from '@codemirror/view';
import { basicSetup } from 'codemirror';
import type { Diagnostic } from '../src/diagnostics.js';
import { analyze, type Analysis } from '../src/service/analysis.js';
import { completionsAt, type CompletionKind } from '../src/service/completion.js';
import { formatSpec } from '../src/service/format.js';
import { hoverAt } from '../src/service/hover.js';
import { sofarHighlighting, sofarLanguage } from './playground-highlight.js';
import { markdownToHtml } from './playground-markdown.js';

export const FILE = 'playground.sofar';

/** The analysis of the latest text asked for: hover, completion and the page share it. */
let cached: Analysis | null = null;
export function analysisOf(text: string): Analysis {
  if (cached?.text !== text) cached = analyze(text, FILE);
  return cached;
}

/** A service query that fails (a bug in it, on some partial text) answers nothing rather than breaking the editor. */
function safely<T>(query: () => T): T | null {
  try {
    return query();
  } catch (e) {
    console.error('sofar: the language service failed', e);
    return null;
  }
}

const COMPLETION_TYPES: Record<CompletionKind, string> = { layer: 'function', block: 'class', argument: 'property', quantizer: 'constant', keyword: 'keyword', name: 'variable' };

function complete(context: CompletionContext): CompletionResult | null {
  const word = context.matchBefore(/[A-Za-z_]\w*/);
  if (!word && !context.explicit) return null;
  const from = word ? word.from : context.pos;
  const found = safely(() => completionsAt(analysisOf(context.state.doc.toString()), from));
  if (!found) return null;
  const options: CmCompletion[] = found.map((c) => ({
    label: c.label,
    type: COMPLETION_TYPES[c.kind],
    detail: c.kind,
    info: c.detail,
    apply: c.insert,
  }));
  return { from, options, validFor: /^\w*$/ };
}

const hover = hoverTooltip((view, pos) => {
  const found = safely(() => hoverAt(analysisOf(view.state.doc.toString()), pos));
  if (!found) return null;
  return {
    pos: found.range.offset,
    end: found.range.offset + found.range.length,
    above: true,
    create: () => {
      const dom = document.createElement('div');
      dom.className = 'sofar-hover';
      dom.innerHTML = markdownToHtml(found.markdown);
      return { dom };
    },
  };
});

/** Replaces the text with its canonical layout; returns why not when it cannot (a syntax error). */
export function formatEditor(view: EditorView): string | null {
  const text = view.state.doc.toString();
  const result = formatSpec(text, FILE);
  if (!result.ok) return result.reason;
  if (result.text !== text) view.dispatch({ changes: { from: 0, to: text.length, insert: result.text } });
  return null;
}

export function createEditor(parent: HTMLElement, text: string, onChange: () => void, onFormat: (view: EditorView) => void): EditorView {
  return new EditorView({
    parent,
    state: EditorState.create({
      doc: text,
      extensions: [
        basicSetup,
        sofarLanguage,
        sofarHighlighting,
        lintGutter(),
        autocompletion({ override: [complete] }),
        hover,
        keymap.of([{ key: 'Shift-Alt-f', run: (view) => (onFormat(view), true) }]),
        EditorState.tabSize.of(2),
        EditorView.contentAttributes.of({ 'aria-label': 'spec' }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) onChange();
        }),
      ],
    }),
  });
}

/** The service's diagnostics of this file as lint marks (underlines, gutter, Ctrl-Shift-M panel). */
export function showDiagnostics(view: EditorView, diagnostics: readonly Diagnostic[]): void {
  const length = view.state.doc.length;
  const marks: CmDiagnostic[] = diagnostics
    .filter((d) => d.span?.file === FILE)
    .map((d) => {
      const from = Math.min(d.span!.offset, length);
      return { from, to: Math.min(length, from + Math.max(d.span!.length, 0)), severity: d.severity === 'error' ? 'error' : d.severity === 'warning' ? 'warning' : 'info', message: d.hint ? `${d.message}\nhint: ${d.hint}` : d.message, source: 'sofar' };
    });
  view.dispatch(setDiagnostics(view.state, marks));
}
