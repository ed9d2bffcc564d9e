/** The summary as tables, field for field as Larq's `lq.models.summary` prints them, then SoFAr's exact figures. */
import Table from 'cli-table3';
import type { Summary } from '../src/cost.js';

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const sci = (n: number) => (n === 0 ? '0' : n.toExponential(3));

/** q = round(num / den) with ties to even (Python's rounding), for non-negative integers. */
function roundHalfEven(num: number, den: number): number {
  const q = Math.floor(num / den);
  const twice = 2 * (num - q * den);
  return twice > den || (twice === den && q % 2 === 1) ? q + 1 : q;
}

/** Rounds to 3 significant figures as Python's `f"{n:.3g}"` does (exact ties to even for integers). */
function threeSignificant(n: number): number {
  if (!Number.isInteger(n)) return Number(n.toPrecision(3));
  if (n < 1000) return n;
  const unit = 10 ** (String(n).length - 3);
  return roundHalfEven(n, unit) * unit;
}

/** A count as Larq prints it: 3 significant figures with a k / M / B / T suffix (`13.9 M`, `19 k`, `841 M`). */
export function larqNumber(count: number): string {
  let n = threeSignificant(count);
  if (n < 1000) return String(n);
  if (n >= 1e15) return n.toExponential(2).toUpperCase();
  let magnitude = 0;
  while (n >= 1000 && magnitude < 4) {
    magnitude += 1;
    n /= 1000;
  }
  return `${Number(n.toPrecision(3))}${['', ' k', ' M', ' B', ' T'][magnitude]}`;
}

/** A size in bits as Larq prints it: B / KiB / MiB / GiB with 2 decimals (Python's rounding, ties to even). */
export function larqMemory(bits: number): string {
  const suffixes = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (i < suffixes.length - 1 && bits / 8 / 1024 ** i >= 1024) i += 1;
  const hundredths = roundHalfEven(Math.round(bits) * 100, 8 * 1024 ** i);
  const whole = Math.floor(hundredths / 100).toLocaleString('en-US');
  return `${whole}.${String(hundredths % 100).padStart(2, '0')} ${suffixes[i]}`;
}

/** The rows of Larq's summary table: label and printed value. */
export function larqSummaryRows(s: Summary): [string, string][] {
  const rows: [string, string][] = [
    ['Total params', larqNumber(s.params.total)],
    ['Trainable params', larqNumber(s.params.trainable)],
    ['Non-trainable params', larqNumber(s.params.nonTrainable)],
    ['Model size', larqMemory(s.memoryBytes * 8)],
    ['Model size (8-bit FP weights)', larqMemory(s.memory8BitBytes * 8)],
    ['Float-32 Equivalent', larqMemory(s.float32Bytes * 8)],
    ['Compression Ratio of Memory', s.compressionRatio.toFixed(2)],
    ['Number of MACs', larqNumber(s.macs.total)],
  ];
  if (s.binarizedRatio > 0) rows.push(['Ratio of MACs that are binarized', s.binarizedRatio.toFixed(4)]);
  if (s.ternarizedRatio > 0) rows.push(['Ratio of MACs that are ternarized', s.ternarizedRatio.toFixed(4)]);
  return rows;
}

const plain = { style: { head: [], border: [] }, chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' } };

function layerTable(s: Summary): string {
  const macBits = Object.keys(s.macs.byBits).map(Number).sort((a, b) => a - b);
  const table = new Table({
    ...plain,
    head: ['Layer', 'Op', 'Input prec. (bit)', 'Outputs', '# 1-bit', '# 32-bit', 'Memory (kB)', ...macBits.map((b) => `${b}-bit MACs`)],
    colAligns: ['left', 'left', ...Array<'right'>(6 + macBits.length).fill('right')],
  });
  for (const l of s.layers) {
    const floatParams = l.params - l.binaryParams;
    table.push([
      l.name,
      l.op,
      l.inputBits === null ? '-' : String(l.inputBits),
      l.outputShape.join('×'),
      int(l.binaryParams),
      int(floatParams),
      l.memoryBytes ? (l.memoryBytes / 1024).toFixed(2) : '0',
      ...macBits.map((b) => (l.macBits === b ? int(l.macs) : '0')),
    ]);
  }
  return table.toString();
}

export function formatSummaryTable(s: Summary, options: { layers?: boolean } = {}): string {
  const parts: string[] = [`${s.name} summary (input ${s.input.join('×')}, ${s.classes} classes)`];
  if (options.layers ?? true) parts.push(layerTable(s));
  const larq = new Table({ ...plain, colAligns: ['left', 'right'] });
  larq.push(...larqSummaryRows(s));
  parts.push(larq.toString());
  const exact = new Table({ ...plain, colAligns: ['left', 'right'] });
  exact.push(
    ['Params (Larq: batch norm 2 a channel)', int(s.params.total)],
    ['Params (Keras count_params())', int(s.kerasParams)],
    ['1-bit params', int(s.params.binary)],
    ['32-bit params', int(s.params.float)],
    ['Model size', `${int(s.memoryBytes)} bytes`],
    ...Object.entries(s.macs.byBits).map(([bits, n]): [string, string] => [`${bits}-bit MACs`, sci(n)]),
    ['OPs (1-bit MACs / 64 + other MACs)', sci(s.ops)],
    ['Graph nodes', int(s.nodes)],
  );
  parts.push(exact.toString());
  return parts.join('\n');
}
