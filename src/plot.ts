/**
 * Plots of training runs as SVG, drawn from the data: accuracy and loss against epochs, test (solid)
 * beside training (dashed), one polyline per run and metric on whole-number epoch ticks, and final test
 * accuracy against OPs (one point per run whose OPs are known) — the picture of the claim that shortcut-based fractal architectures buy accuracy per OP.
 * Hand-built rather than through a charting library: three panels of lines and points need only
 * scales, ticks and a legend, and the libraries that draw SVG (d3, vega) want a DOM or are far larger
 * than this file. Free of Node APIs.
 */

export interface RunSeries {
  /** The label in the legend (the run's folder or file name). */
  label: string;
  /** Epoch, test and training accuracy (0..1) and loss, in epoch order. */
  points: { epoch: number; testAccuracy: number; testLoss: number; trainAccuracy: number; trainLoss: number }[];
  /** OPs of the run's model (1-bit MACs / 64 + 32-bit MACs), when known. */
  ops?: number;
}

export interface PlotOptions {
  title?: string;
}

const PANEL = { width: 420, height: 300, left: 64, right: 28, top: 34, bottom: 48 };
/** Colours that stay apart for the usual handful of runs (Tableau 10). */
const COLOURS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

export const colourOf = (i: number): string => COLOURS[i % COLOURS.length];

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (n: number) => Number(n.toFixed(2)).toString();

/** "Nice" tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) * 0.05 || 1;
    return niceTicks(lo - pad, hi + pad, count);
  }
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks: number[] = [];
  for (let t = Math.floor(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  if (ticks[ticks.length - 1] < hi) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

/** Whole-number ticks covering [lo, hi] (epochs): steps of 1, 2 or 5 times a power of ten, never less than 1. */
export function wholeTicks(lo: number, hi: number, count = 5): number[] {
  const low = Math.floor(lo);
  const high = Math.max(Math.ceil(hi), low + 1);
  const raw = (high - low) / count;
  let step = 1;
  for (let power = 1; step < raw; power *= 10) step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks: number[] = [];
  for (let t = Math.floor(low / step) * step; t < high + step; t += step) {
    ticks.push(t);
    if (t >= high) break;
  }
  return ticks;
}

interface Axis {
  min: number;
  max: number;
  ticks: number[];
  log: boolean;
  label: (v: number) => string;
}

function linearAxis(values: number[], label: (v: number) => string): Axis {
  const ticks = niceTicks(Math.min(...values), Math.max(...values));
  return { min: ticks[0], max: ticks[ticks.length - 1], ticks, log: false, label };
}

/** Powers of ten around the values (OPs span orders of magnitude across models). */
function logAxis(values: number[], label: (v: number) => string): Axis {
  const lo = Math.floor(Math.log10(Math.min(...values)));
  let hi = Math.ceil(Math.log10(Math.max(...values)));
  if (hi === lo) hi = lo + 1;
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e++) ticks.push(10 ** e);
  return { min: 10 ** lo, max: 10 ** hi, ticks, log: true, label };
}

const scale = (axis: Axis, v: number) => (axis.log ? (Math.log10(v) - Math.log10(axis.min)) / (Math.log10(axis.max) - Math.log10(axis.min)) : (v - axis.min) / (axis.max - axis.min));

/** One panel: frame, ticks, axis titles and `body` (drawn by the caller in panel coordinates). */
function panel(x0: number, title: string, xTitle: string, yTitle: string, xAxis: Axis, yAxis: Axis, body: (px: (v: number) => number, py: (v: number) => number) => string[]): string {
  const w = PANEL.width - PANEL.left - PANEL.right;
  const h = PANEL.height - PANEL.top - PANEL.bottom;
  const px = (v: number) => PANEL.left + scale(xAxis, v) * w;
  const py = (v: number) => PANEL.top + (1 - scale(yAxis, v)) * h;
  const parts = [`<g class="panel" data-panel="${escape(title)}" transform="translate(${x0},0)">`];
  parts.push(`<text class="title" x="${PANEL.left + w / 2}" y="20" text-anchor="middle" font-weight="bold">${escape(title)}</text>`);
  for (const t of xAxis.ticks) {
    const x = fmt(px(t));
    parts.push(`<line class="grid" x1="${x}" y1="${PANEL.top}" x2="${x}" y2="${PANEL.top + h}" stroke="#e5e5e5"/>`);
    parts.push(`<text class="tick x" x="${x}" y="${PANEL.top + h + 16}" text-anchor="middle">${escape(xAxis.label(t))}</text>`);
  }
  for (const t of yAxis.ticks) {
    const y = fmt(py(t));
    parts.push(`<line class="grid" x1="${PANEL.left}" y1="${y}" x2="${PANEL.left + w}" y2="${y}" stroke="#e5e5e5"/>`);
    parts.push(`<text class="tick y" x="${PANEL.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escape(yAxis.label(t))}</text>`);
  }
  parts.push(`<rect x="${PANEL.left}" y="${PANEL.top}" width="${w}" height="${h}" fill="none" stroke="#333"/>`);
  parts.push(`<text class="axis-label x" x="${PANEL.left + w / 2}" y="${PANEL.height - 10}" text-anchor="middle">${escape(xTitle)}</text>`);
  parts.push(`<text class="axis-label y" transform="translate(16,${PANEL.top + h / 2}) rotate(-90)" text-anchor="middle">${escape(yTitle)}</text>`);
  parts.push(...body(px, py), '</g>');
  return parts.join('\n');
}

const percent = (v: number) => `${fmt(v * 100)}%`;
const plain = (v: number) => fmt(v);
const power = (v: number) => (v >= 1e3 ? `1e${Math.round(Math.log10(v))}` : plain(v));

/** The SVG document: the accuracy and loss panels, the accuracy-against-OPs panel when a run has OPs, and a legend. */
export function plotRunsSvg(runs: readonly RunSeries[], options: PlotOptions = {}): string {
  const all = runs.flatMap((r) => r.points);
  if (!all.length) throw new Error('internal: plotRunsSvg needs at least one epoch');
  const epochTicks = wholeTicks(Math.min(...all.map((p) => p.epoch)), Math.max(...all.map((p) => p.epoch)));
  const epochs: Axis = { min: epochTicks[0], max: epochTicks[epochTicks.length - 1], ticks: epochTicks, log: false, label: String };
  const accuracy = linearAxis(all.flatMap((p) => [p.testAccuracy, p.trainAccuracy]), percent);
  const loss = linearAxis(all.flatMap((p) => [p.testLoss, p.trainLoss]), plain);
  type Metric = 'testAccuracy' | 'trainAccuracy' | 'testLoss' | 'trainLoss';
  const show = (metric: Metric, v: number) => (metric.endsWith('Accuracy') ? percent(v) : fmt(v));
  const line = (metric: Metric) => (px: (v: number) => number, py: (v: number) => number) =>
    runs.flatMap((r, i) => [
      `<polyline class="series" data-run="${escape(r.label)}" data-metric="${metric}" fill="none" stroke="${colourOf(i)}" stroke-width="2"${metric.startsWith('train') ? ' stroke-dasharray="6 3"' : ''} points="${r.points.map((p) => `${fmt(px(p.epoch))},${fmt(py(p[metric]))}`).join(' ')}"/>`,
      ...r.points.map((p) => `<circle cx="${fmt(px(p.epoch))}" cy="${fmt(py(p[metric]))}" r="2.5" fill="${colourOf(i)}"><title>${escape(r.label)} epoch ${p.epoch}, ${metric.startsWith('train') ? 'training' : 'test'}: ${show(metric, p[metric])}</title></circle>`),
    ]);
  const both = (a: Metric, b: Metric) => (px: (v: number) => number, py: (v: number) => number) => [...line(a)(px, py), ...line(b)(px, py)];
  const panels = [
    panel(0, 'Accuracy', 'epoch', 'accuracy (test solid, training dashed)', epochs, accuracy, both('testAccuracy', 'trainAccuracy')),
    panel(PANEL.width, 'Loss', 'epoch', 'loss (test solid, training dashed)', epochs, loss, both('testLoss', 'trainLoss')),
  ];
  const withOps = runs.map((r, i) => ({ r, i })).filter(({ r }) => r.ops !== undefined && r.ops > 0 && r.points.length);
  if (withOps.length) {
    const final = (r: RunSeries) => r.points[r.points.length - 1].testAccuracy;
    const opsValues = withOps.map(({ r }) => r.ops!);
    const opsAxis = Math.max(...opsValues) / Math.min(...opsValues) > 20 ? logAxis(opsValues, power) : linearAxis(opsValues.concat(0), (v) => v.toExponential(1));
    const accAxis = linearAxis(withOps.map(({ r }) => final(r)), percent);
    panels.push(
      panel(2 * PANEL.width, 'Final test accuracy against OPs', 'OPs (1-bit MACs / 64 + 32-bit MACs)', 'test accuracy', opsAxis, accAxis, (px, py) =>
        withOps.flatMap(({ r, i }) => [
          `<circle class="run-point" data-run="${escape(r.label)}" cx="${fmt(px(r.ops!))}" cy="${fmt(py(final(r)))}" r="5" fill="${colourOf(i)}"><title>${escape(r.label)}: ${percent(final(r))} at ${r.ops!.toExponential(3)} OPs</title></circle>`,
          `<text class="point-label" x="${fmt(px(r.ops!))}" y="${fmt(py(final(r)) - 9)}" text-anchor="${scale(opsAxis, r.ops!) > 0.7 ? 'end' : 'start'}" fill="${colourOf(i)}">${escape(r.label)}</text>`,
        ]),
      ),
    );
  }
  const legendTop = PANEL.height + 8;
  const legend = runs.map((r, i) => {
    const y = legendTop + 18 * i;
    return `<g class="legend-item"><line x1="${PANEL.left}" y1="${y}" x2="${PANEL.left + 24}" y2="${y}" stroke="${colourOf(i)}" stroke-width="3"/><text x="${PANEL.left + 30}" y="${y}" dominant-baseline="middle">${escape(r.label)}${r.ops ? ` (${r.ops.toExponential(3)} OPs)` : ''}</text></g>`;
  });
  const styleY = legendTop + 18 * runs.length;
  legend.push(
    `<g class="legend-item"><line x1="${PANEL.left}" y1="${styleY}" x2="${PANEL.left + 24}" y2="${styleY}" stroke="#555" stroke-width="2"/><text x="${PANEL.left + 30}" y="${styleY}" dominant-baseline="middle">test</text>` +
      `<line x1="${PANEL.left + 80}" y1="${styleY}" x2="${PANEL.left + 104}" y2="${styleY}" stroke="#555" stroke-width="2" stroke-dasharray="6 3"/><text x="${PANEL.left + 110}" y="${styleY}" dominant-baseline="middle">training</text></g>`,
  );
  return svgDocument(options.title ?? `SoFAr runs: ${runs.map((r) => r.label).join(', ')}`, panels, legend, legendTop + 18 * (runs.length + 1) + 8);
}

/** The SVG document: panels side by side, the legend under them, on white. */
function svgDocument(title: string, panels: readonly string[], legend: readonly string[], height: number): string {
  const width = PANEL.width * panels.length;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escape(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    ...panels,
    `<g class="legend">`,
    ...legend,
    '</g>',
    '</svg>',
    '',
  ].join('\n');
}

/** One point of a study: a family's mean test accuracy (and spread over seeds) at one cost. */
export interface ParetoPoint {
  family: string;
  /** What distinguishes the point within its family (`width=37`). */
  label: string;
  ops: number;
  latencyMs: number | null;
  accuracy: { mean: number; std: number; n: number };
}

/**
 * Accuracy against cost for a sweep: mean test accuracy over seeds with ± one standard deviation, one
 * line a family through its points in cost order; against OPs, and against measured latency where the
 * runs have it.
 */
export function plotParetoSvg(points: readonly ParetoPoint[], options: PlotOptions = {}): string {
  if (!points.length) throw new Error('internal: plotParetoSvg needs at least one point');
  const families = [...new Set(points.map((p) => p.family))];
  const colour = (family: string) => colourOf(families.indexOf(family));
  const clamp = (v: number) => Math.min(1, Math.max(0, v));
  const accuracy = linearAxis(points.flatMap((p) => [clamp(p.accuracy.mean - p.accuracy.std), clamp(p.accuracy.mean + p.accuracy.std)]), percent);
  const against = (x: (p: ParetoPoint) => number | null, axis: Axis) => (px: (v: number) => number, py: (v: number) => number) =>
    families.flatMap((family) => {
      const mine = points.filter((p) => p.family === family && x(p) !== null).sort((a, b) => x(a)! - x(b)!);
      return [
        `<polyline class="family" data-family="${escape(family)}" fill="none" stroke="${colour(family)}" stroke-width="2" points="${mine.map((p) => `${fmt(px(x(p)!))},${fmt(py(p.accuracy.mean))}`).join(' ')}"/>`,
        ...mine.flatMap((p) => {
          const cx = fmt(px(x(p)!));
          return [
            `<line class="spread" x1="${cx}" y1="${fmt(py(clamp(p.accuracy.mean - p.accuracy.std)))}" x2="${cx}" y2="${fmt(py(clamp(p.accuracy.mean + p.accuracy.std)))}" stroke="${colour(family)}" stroke-width="1.5"/>`,
            `<circle class="study-point" data-family="${escape(family)}" cx="${cx}" cy="${fmt(py(p.accuracy.mean))}" r="4" fill="${colour(family)}"><title>${escape(`${family} ${p.label}`)}: ${percent(p.accuracy.mean)} ± ${percent(p.accuracy.std)} (${p.accuracy.n} seeds) at ${axis.label(x(p)!)}</title></circle>`,
          ];
        }),
      ];
    });
  const opsValues = points.map((p) => p.ops);
  const opsAxis = Math.max(...opsValues) / Math.min(...opsValues) > 20 ? logAxis(opsValues, power) : linearAxis(opsValues, (v) => v.toExponential(1));
  const panels = [panel(0, 'Test accuracy against OPs', 'OPs (1-bit MACs / 64 + 32-bit MACs)', 'test accuracy (mean ± std over seeds)', opsAxis, accuracy, against((p) => p.ops, opsAxis))];
  const latencies = points.map((p) => p.latencyMs).filter((v): v is number => v !== null);
  if (latencies.length) {
    const latencyAxis = linearAxis(latencies, (v) => `${fmt(v)} ms`);
    panels.push(panel(PANEL.width, 'Test accuracy against latency', 'latency, binary runtime, batch 1 (ms)', 'test accuracy (mean ± std over seeds)', latencyAxis, accuracy, against((p) => p.latencyMs, latencyAxis)));
  }
  const legendTop = PANEL.height + 8;
  const legend = families.map((family, i) => {
    const y = legendTop + 18 * i;
    return `<g class="legend-item"><line x1="${PANEL.left}" y1="${y}" x2="${PANEL.left + 24}" y2="${y}" stroke="${colour(family)}" stroke-width="3"/><text x="${PANEL.left + 30}" y="${y}" dominant-baseline="middle">${escape(family)}</text></g>`;
  });
  return svgDocument(options.title ?? `SoFAr study: ${families.join(', ')}`, panels, legend, legendTop + 18 * families.length + 8);
}
