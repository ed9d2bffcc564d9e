/**
 * The playground: a spec edited in the browser (CodeMirror, on the language service of `sofar lsp`:
 * web/playground-editor.ts), analysed on each pause in typing by the same parser, elaborator and checker
 * as the CLI (no Node API), with the diagnostics marked in the editor and listed, each line's output
 * shape at its end, the summary and the ELK drawing of the graph. The spec lives in the address
 * (`#spec=` base64url of its UTF-8), so a link shares it.
 */
import type { EditorView } from '@codemirror/view';
import { summarize } from '../src/cost.js';
import type { Diagnostic } from '../src/diagnostics.js';
import { ARROW_DEFS, drawingElements, layoutGraph } from '../src/graph/draw.js';
import example from '../specs/fashion/bireal-small.sofar';
import { analysisOf, createEditor, FILE, formatEditor, safely, showAnalysis } from './playground-editor.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const list = $<HTMLUListElement>('diagnostics');
const summaryPane = $<HTMLDivElement>('summary');
const drawingPane = $<HTMLDivElement>('drawing');
const formatStatus = $<HTMLSpanElement>('format-status');

const encode = (text: string) => btoa(String.fromCharCode(...new TextEncoder().encode(text))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const decode = (b64: string) => new TextDecoder().decode(Uint8Array.from(atob(b64.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0)));

function initialSpec(): string {
  const m = /(?:^#|&)spec=([A-Za-z0-9_-]*)/.exec(location.hash);
  if (m) {
    try {
      return decode(m[1]);
    } catch {
      // A damaged link: start from the example.
    }
  }
  return example;
}

function renderList(view: EditorView, diagnostics: readonly Diagnostic[]) {
  if (!diagnostics.length) {
    const ok = document.createElement('li');
    ok.className = 'ok';
    ok.textContent = 'no problems';
    list.replaceChildren(ok);
    return;
  }
  list.replaceChildren(
    ...diagnostics.map((d) => {
      const li = document.createElement('li');
      li.className = d.severity;
      const where = d.span ? `${d.span.line}:${d.span.column}: ` : '';
      li.textContent = `${where}${d.severity}: ${d.message}${d.hint ? ` (hint: ${d.hint})` : ''}`;
      if (d.span?.file === FILE) {
        const span = d.span;
        li.dataset.line = String(span.line);
        li.dataset.column = String(span.column);
        li.onclick = () => {
          const from = Math.min(span.offset, view.state.doc.length);
          view.dispatch({ selection: { anchor: from, head: Math.min(view.state.doc.length, from + span.length) }, scrollIntoView: true });
          view.focus();
        };
      }
      return li;
    }),
  );
}

let generation = 0;
async function update(view: EditorView) {
  const text = view.state.doc.toString();
  const mine = ++generation;
  history.replaceState(null, '', `#spec=${encode(text)}`);
  const analysis = safely(() => analysisOf(text));
  if (!analysis) return;
  showAnalysis(view, analysis);
  renderList(view, analysis.diagnostics);
  // With errors, the last good summary and drawing stay, dimmed.
  const graph = analysis.graphs.values().next().value;
  const failed = !graph || analysis.diagnostics.some((d) => d.severity === 'error');
  document.body.classList.toggle('stale', failed);
  if (failed || !graph) return;
  const s = summarize(graph);
  const fmt = (n: number) => n.toLocaleString('en-US');
  const escape = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  summaryPane.innerHTML = `<dl><dt>model</dt><dd>${escape(graph.name)}</dd><dt>params</dt><dd>${fmt(s.params.total)} (${fmt(s.params.binary)} 1-bit, ${fmt(s.params.float)} 32-bit)</dd><dt>model size</dt><dd>${fmt(s.memoryBytes)} bytes</dd><dt>MACs</dt><dd>${s.macs.binary.toExponential(3)} 1-bit, ${s.macs.float.toExponential(3)} 32-bit</dd><dt>OPs</dt><dd>${s.ops.toExponential(3)}</dd><dt>nodes</dt><dd>${fmt(s.nodes)}</dd></dl>`;
  const drawing = await layoutGraph(graph);
  if (mine !== generation) return;
  const w = Math.ceil(drawing.width);
  const h = Math.ceil(drawing.height);
  drawingPane.innerHTML = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">${ARROW_DEFS}${drawingElements(drawing).join('')}</svg>`;
  document.body.dataset.nodes = String(drawing.nodes.length);
}

function format(view: EditorView) {
  const why = formatEditor(view);
  formatStatus.textContent = why ? `not formatted: ${why}` : '';
}

let timer: ReturnType<typeof setTimeout> | undefined;
const view = createEditor(
  $<HTMLDivElement>('editor'),
  initialSpec(),
  () => {
    clearTimeout(timer);
    timer = setTimeout(() => void update(view), 150);
  },
  format,
);
$<HTMLButtonElement>('format').onclick = () => format(view);
$<HTMLButtonElement>('share').onclick = () => void navigator.clipboard?.writeText(location.href);
void update(view);
