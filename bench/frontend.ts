/**
 * Front-end speed: parse, elaborate and check time for every zoo spec and for synthetic fractals of
 * growing column counts; nodes per second and the cost per node, to see that time is linear in nodes.
 * Targets: the largest zoo spec in < 100 ms, 10⁵ nodes in < 1 s. Writes bench/results/frontend.json.
 *
 *   npm run build && node dist/bench/frontend.js
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parse } from '../grammar/index.js';
import { check } from '../src/check.js';
import { elaborate } from '../src/elaborate/elaborate.js';
import { isMain, machine, printReport, writeReport } from './common.js';

interface Timing {
  name: string;
  nodes: number;
  parseMs: number;
  elaborateMs: number;
  checkMs: number;
  totalMs: number;
  /** Process CPU time of the three stages (less sensitive than wall time to a busy machine). */
  cpuMs: number;
  nodesPerSecond: number;
  nsPerNode: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Median timings of the three stages over `runs` runs (after one warm-up). */
function time(name: string, text: string, runs: number, params?: Record<string, number>): Timing {
  const parseT: number[] = [];
  const elabT: number[] = [];
  const checkT: number[] = [];
  const cpuT: number[] = [];
  let nodes = 0;
  for (let i = 0; i <= runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const parsed = parse(text, name);
    const t1 = performance.now();
    const { graph, diagnostics } = elaborate(parsed.ast, { nodeBudget: 10_000_000, ...(params ? { params } : {}) });
    const t2 = performance.now();
    if (!graph || diagnostics.some((d) => d.severity === 'error')) throw new Error(`${name}: ${diagnostics.map((d) => d.message).join('; ')}`);
    const problems = check(graph);
    const t3 = performance.now();
    if (problems.length) throw new Error(`${name}: ${problems[0].message}`);
    const cpu = process.cpuUsage(c0);
    nodes = graph.nodes.length;
    if (i === 0) continue; // warm-up
    parseT.push(t1 - t0);
    elabT.push(t2 - t1);
    checkT.push(t3 - t2);
    cpuT.push((cpu.user + cpu.system) / 1000);
  }
  const parseMs = median(parseT);
  const elaborateMs = median(elabT);
  const checkMs = median(checkT);
  const totalMs = parseMs + elaborateMs + checkMs;
  return { name, nodes, parseMs, elaborateMs, checkMs, totalMs, cpuMs: median(cpuT), nodesPerSecond: (nodes / totalMs) * 1000, nsPerNode: (totalMs * 1e6) / nodes };
}

const fractalSpec = (columns: number) => `model synthetic_fractal {
  input 3x32x32
  classes 10
  block unit(ch) = residual() { conv 3x3 ch; bn; relu }
  conv 3x3 16
  fractal(columns = ${columns}) { unit(16) }
  global_avgpool
  dense 10
}
`;

export async function run(o: { out?: string; maxColumns?: number } = {}): Promise<object> {
  const loadStart = loadavg();
  const specs = ['specs', 'specs/fashion'].flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.sofar')).map((f) => join(d, f)));
  const zoo = specs.map((path) => time(path, readFileSync(path, 'utf8'), 9));
  const fractals: Timing[] = [];
  for (let c = 4; c <= (o.maxColumns ?? 15); c++) fractals.push(time(`fractal c=${c}`, fractalSpec(c), c >= 13 ? 3 : 7));
  const largest = zoo.reduce((a, b) => (b.nodes > a.nodes ? b : a));
  const big = fractals.filter((f) => f.nodes >= 10_000);
  const report = {
    machine: machine(loadStart),
    node: process.version,
    zoo,
    fractals,
    targets: {
      largestZooSpec: { name: largest.name, nodes: largest.nodes, ms: largest.totalMs, targetMs: 100, met: largest.totalMs < 100 },
      hundredThousandNodes: (() => {
        const f = fractals.find((x) => x.nodes >= 100_000);
        return f
          ? { name: f.name, nodes: f.nodes, ms: f.totalMs, msPer1e5: (f.totalMs * 1e5) / f.nodes, cpuMsPer1e5: (f.cpuMs * 1e5) / f.nodes, targetMs: 1000, met: (f.totalMs * 1e5) / f.nodes < 1000 }
          : null;
      })(),
      // Linear cost: ns per node stays flat from 10⁴ nodes up (ratio largest / smallest of those).
      linearity: big.length >= 2 ? { nsPerNode: big.map((f) => Math.round(f.nsPerNode)), ratio: big[big.length - 1].nsPerNode / big[0].nsPerNode } : null,
    },
  };
  writeReport(o.out ?? 'bench/results/frontend.json', report);
  return report;
}

if (isMain(import.meta.url)) {
  printReport(() => run().then((r) => (r as { targets: unknown }).targets));
}
