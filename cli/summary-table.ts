/** The summary as a table, in the spirit of Larq's `lq.models.summary`. */
import Table from 'cli-table3';
import type { Summary } from '../src/cost.js';

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const sci = (n: number) => (n === 0 ? '0' : n.toExponential(3));
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;

export function formatSummaryTable(s: Summary, options: { layers?: boolean } = {}): string {
  const parts: string[] = [`${s.name} summary (input ${s.input.join('×')}, ${s.classes} classes)`];
  if (options.layers ?? true) {
    const table = new Table({
      head: ['Layer', 'Op', 'Output shape', '# 1-bit', '# 32-bit', 'Memory (kB)', '1-bit MACs', '32-bit MACs'],
      style: { head: [], border: [] },
      colAligns: ['left', 'left', 'left', 'right', 'right', 'right', 'right', 'right'],
      chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    });
    for (const l of s.layers) {
      const floatParams = l.params - l.binaryParams;
      const memory = (l.binaryParams / 8 + floatParams * 4) / 1024;
      table.push([
        l.name,
        l.op,
        l.outputShape.join('×'),
        l.binaryParams ? int(l.binaryParams) : '0',
        floatParams ? int(floatParams) : '0',
        memory ? memory.toFixed(2) : '0',
        l.binaryMacs ? int(l.binaryMacs) : '0',
        l.macs - l.binaryMacs ? int(l.macs - l.binaryMacs) : '0',
      ]);
    }
    parts.push(table.toString());
  }
  const totals = new Table({
    style: { head: [], border: [] },
    colAligns: ['left', 'right'],
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  totals.push(
    ['Total params', int(s.params.total)],
    ['Trainable params', int(s.params.trainable)],
    ['Non-trainable params', int(s.params.nonTrainable)],
    ['1-bit params', int(s.params.binary)],
    ['32-bit params', int(s.params.float)],
    ['Model size', `${int(s.memoryBytes)} bytes (${mib(s.memoryBytes)})`],
    ['Float-32 equivalent', `${mib(s.params.total * 4)} (${(s.params.total * 4 / s.memoryBytes).toFixed(1)}× larger)`],
    ['1-bit MACs', sci(s.macs.binary)],
    ['32-bit MACs', sci(s.macs.float)],
    ['OPs (1-bit MACs / 64 + 32-bit MACs)', sci(s.ops)],
    ['Graph nodes', int(s.nodes)],
  );
  parts.push(totals.toString());
  return parts.join('\n');
}
