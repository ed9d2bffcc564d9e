/**
 * The playground: a spec edited in the browser, compiled on each pause in typing by the same parser,
 * elaborator and checker as the CLI (src/compile-text.ts, no Node API), with the diagnostics marked at
 * their line and column, the summary and the ELK drawing of the graph. The spec lives in the address
 * (`#spec=` base64url of its UTF-8), so a link shares it.
 */
import { compile } from '../src/compile-text.js';
import { summarize } from '../src/cost.js';
import type { Diagnostic } from '../src/diagnostics.js';
import { ARROW_DEFS, drawingElements, layoutGraph } from '../src/graph/draw.js';
import example from '../specs/fashion/bireal-small.sofar';

const FILE = 'playground.sofar';
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const spec = $<HTMLTextAreaElement>('spec');
const marks = $<HTMLPreElement>('marks');
const list = $<HTMLUListElement>('diagnostics');
const summaryPane = $<HTMLDivElement>('summary');
const drawingPane = $<HTMLDivElement>('drawing');

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

/** The text again behind the textarea, with the lines that have diagnostics tinted and the span underlined. */
function renderMarks(text: string, diagnostics: readonly Diagnostic[]) {
  const lines = text.split('\n');
  const byLine = new Map<number, Diagnostic>();
  for (const d of diagnostics) if (d.span?.file === FILE && !(byLine.get(d.span.line)?.severity === 'error')) byLine.set(d.span.line, d);
  marks.replaceChildren(
    ...lines.map((line, i) => {
      const div = document.createElement('div');
      div.className = 'line';
      const d = byLine.get(i + 1);
      if (!d?.span) {
        div.textContent = line || ' ';
        return div;
      }
      div.classList.add(d.severity);
      div.dataset.line = String(i + 1);
      const start = Math.min(d.span.column - 1, line.length);
      const end = Math.min(line.length, start + Math.max(1, d.span.length));
      const at = document.createElement('span');
      at.className = 'at';
      at.textContent = line.slice(start, end) || ' ';
      div.append(line.slice(0, start), at, line.slice(end) || (end === start ? '' : ' '));
      return div;
    }),
  );
  marks.scrollTop = spec.scrollTop;
  marks.scrollLeft = spec.scrollLeft;
}

function renderList(diagnostics: readonly Diagnostic[]) {
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
      if (d.span) {
        li.dataset.line = String(d.span.line);
        li.dataset.column = String(d.span.column);
        const offset = d.span.offset;
        li.onclick = () => {
          spec.focus();
          spec.setSelectionRange(offset, offset + d.span!.length);
        };
      }
      return li;
    }),
  );
}

let generation = 0;
async function update() {
  const text = spec.value;
  const mine = ++generation;
  history.replaceState(null, '', `#spec=${encode(text)}`);
  const result = compile(text, FILE);
  renderMarks(text, result.diagnostics);
  renderList(result.diagnostics);
  // With errors, the last good summary and drawing stay, dimmed.
  const failed = !result.graph || result.diagnostics.some((d) => d.severity === 'error');
  document.body.classList.toggle('stale', failed);
  if (failed || !result.graph) return;
  const s = summarize(result.graph);
  const fmt = (n: number) => n.toLocaleString('en-US');
  summaryPane.innerHTML = `<dl><dt>model</dt><dd>${result.graph.name}</dd><dt>params</dt><dd>${fmt(s.params.total)} (${fmt(s.params.binary)} 1-bit, ${fmt(s.params.float)} 32-bit)</dd><dt>model size</dt><dd>${fmt(s.memoryBytes)} bytes</dd><dt>MACs</dt><dd>${s.macs.binary.toExponential(3)} 1-bit, ${s.macs.float.toExponential(3)} 32-bit</dd><dt>OPs</dt><dd>${s.ops.toExponential(3)}</dd><dt>nodes</dt><dd>${fmt(s.nodes)}</dd></dl>`;
  const drawing = await layoutGraph(result.graph);
  if (mine !== generation) return;
  const w = Math.ceil(drawing.width);
  const h = Math.ceil(drawing.height);
  drawingPane.innerHTML = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">${ARROW_DEFS}${drawingElements(drawing).join('')}</svg>`;
  document.body.dataset.nodes = String(drawing.nodes.length);
}

let timer: ReturnType<typeof setTimeout> | undefined;
spec.addEventListener('input', () => {
  clearTimeout(timer);
  timer = setTimeout(() => void update(), 150);
});
spec.addEventListener('scroll', () => {
  marks.scrollTop = spec.scrollTop;
  marks.scrollLeft = spec.scrollLeft;
});
$<HTMLButtonElement>('share').onclick = () => void navigator.clipboard?.writeText(location.href);
spec.value = initialSpec();
void update();
