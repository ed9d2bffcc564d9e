/**
 * The playground's editor: CodeMirror 6 on the language service of `sofar lsp` (src/service/, run in the
 * page, no server): highlighting from the TextMate grammar, hover from hoverAt(), completion from
 * completionsAt(), go to definition (F12) from definitionAt(), formatting from formatSpec(), and the
 * diagnostics of analyze() as lint marks and each
 * line's output shape at its end (the page analyses once per pause in typing and hands them in with
 * showAnalysis).
 */
import { autocompletion, type Completion as CmCompletion, type CompletionContext, type CompletionResult } from '@codemirror/autocomplete';
import { setDiagnostics, lintGutter, type Diagnostic as CmDiagnostic } from '@codemirror/lint';
import { EditorState, StateEffect, StateField } from '@codemirror/state';
import { Decoration, EditorView, hoverTooltip, keymap, WidgetType, type DecorationSet } from '@codemirror/view';
import { basicSetup } from 'codemirror';
import type { Diagnostic } from '../src/diagnostics.js';
import { analyze, type Analysis } from '../src/service/analysis.js';
import { completionsAt, type CompletionKind } from '../src/service/completion.js';
import { formatSpec } from '../src/service/format.js';
import { hoverAt } from '../src/service/hover.js';
import { definitionAt, inlayHints, type InlayHint } from '../src/service/navigation.js';
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
export function safely<T>(query: () => T): T | null {
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

/** F12: selects the declaration of the block, parameter, `let` name or loop variable under the cursor. */
function goToDefinition(view: EditorView): boolean {
  const found = safely(() => definitionAt(analysisOf(view.state.doc.toString()), view.state.selection.main.head));
  if (!found) return false;
  view.dispatch({ selection: { anchor: found.offset, head: found.offset + found.length }, scrollIntoView: true });
  return true;
}

/** Each layer line's output shape, after its text. */
class ShapeHint extends WidgetType {
  constructor(readonly label: string) {
    super();
  }
  override eq(other: ShapeHint): boolean {
    return other.label === this.label;
  }
  toDOM(): HTMLElement {
    const span = document.createElement('span');
    span.className = 'sofar-shape';
    span.textContent = this.label;
    return span;
  }
}

const setShapes = StateEffect.define<InlayHint[]>();
const shapes = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(decorations, tr) {
    for (const e of tr.effects) {
      if (e.is(setShapes)) return Decoration.set(e.value.map((h) => Decoration.widget({ widget: new ShapeHint(h.label), side: 1 }).range(h.offset)), true);
    }
    return decorations.map(tr.changes);
  },
  provide: (field) => EditorView.decorations.from(field),
});

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
        shapes,
        autocompletion({ override: [complete] }),
        hover,
        keymap.of([
          { key: 'Shift-Alt-f', run: (view) => (onFormat(view), true) },
          { key: 'F12', run: goToDefinition },
        ]),
        EditorState.tabSize.of(2),
        EditorView.contentAttributes.of({ 'aria-label': 'spec' }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) onChange();
        }),
      ],
    }),
  });
}

/** The analysis of the editor's text shown: its diagnostics as lint marks (underlines, gutter, Ctrl-Shift-M panel), the shapes as hints. */
export function showAnalysis(view: EditorView, analysis: Analysis): void {
  if (analysis.text !== view.state.doc.toString()) return;
  const length = view.state.doc.length;
  const marks: CmDiagnostic[] = analysis.diagnostics
    .filter((d) => d.span?.file === FILE)
    .map((d) => {
      const from = Math.min(d.span!.offset, length);
      return { from, to: Math.min(length, from + Math.max(d.span!.length, 0)), severity: d.severity === 'error' ? 'error' : d.severity === 'warning' ? 'warning' : 'info', message: d.hint ? `${d.message}\nhint: ${d.hint}` : d.message, source: 'sofar' };
    });
  const hints = safely(() => inlayHints(analysis)) ?? [];
  view.dispatch(setDiagnostics(view.state, marks), { effects: setShapes.of(hints) });
}
