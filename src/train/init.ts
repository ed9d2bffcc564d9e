/**
 * `--init RUN`: a new run starts from another run's weights where names and shapes match (ReActNet's
 * two-step training: binary activations with real weights first, then binary weights from those),
 * every other parameter at its seeded initial value. Unlike `--resume` it takes no optimizer state and
 * starts at epoch 1, step 0.
 */
import type { Checkpoint } from '../checkpoint/index.js';
import { error, SofarError } from '../diagnostics.js';
import type { Graph, WeightMap } from '../graph/types.js';

export interface InitReport {
  /** The checkpoint it came from. */
  from: string;
  /** Parameters taken from the run. */
  taken: string[];
  /** Parameters left at their initial values: absent from the run, or of another shape there. */
  left: string[];
  /** Of `left`, those the run holds in another shape: `name (run 64×3×3×3, here 32×3×3×3)`. */
  reshaped: string[];
  /** Tensors of the run this model has no parameter for. */
  unused: string[];
}

/** `initial` (the seeded weights) with every parameter the checkpoint holds in the same shape replaced. */
export function weightsFromRun(graph: Graph, initial: WeightMap, checkpoint: Checkpoint): { weights: WeightMap; report: InitReport } {
  const weights: WeightMap = new Map(initial);
  const report: InitReport = { from: checkpoint.path, taken: [], left: [], reshaped: [], unused: [] };
  const names = new Set<string>();
  for (const p of graph.nodes.flatMap((n) => n.params)) {
    names.add(p.name);
    const values = checkpoint.weights.get(p.name);
    const shape = checkpoint.shapes.get(p.name) ?? (values ? [values.length] : undefined);
    const size = p.shape.reduce((a, b) => a * b, 1);
    if (values && shape && shape.join('x') === p.shape.join('x') && values.length === size) {
      weights.set(p.name, values);
      report.taken.push(p.name);
      continue;
    }
    report.left.push(p.name);
    if (values) report.reshaped.push(`${p.name} (run ${shape?.join('×')}, here ${p.shape.join('×')})`);
  }
  report.unused = [...checkpoint.weights.keys()].filter((name) => !names.has(name));
  if (!report.taken.length) {
    throw new SofarError([
      error(
        'training',
        `--init ${checkpoint.path}: the run (model '${checkpoint.meta.spec}') shares no parameter of the same name and shape with model '${graph.name}'`,
        undefined,
        report.reshaped.length
          ? `${report.reshaped.length} share a name but not a shape (${report.reshaped.slice(0, 2).join(', ')}): check the --set values of the two runs`
          : 'give the run of an earlier stage of this model (its parameter names are the spec\'s layer names)',
      ),
    ]);
  }
  return { weights, report };
}

/** What `--init` took and what it left, as lines for the user. */
export function describeInit(report: InitReport): string[] {
  const list = (items: string[]) => items.slice(0, 6).join(', ') + (items.length > 6 ? `, … (${items.length} in all)` : '');
  const total = report.taken.length + report.left.length;
  const lines = [`initialised from ${report.from}: ${report.taken.length} of ${total} parameter tensors taken (${list(report.taken)})`];
  const reshaped = new Set(report.reshaped.map((r) => r.slice(0, r.indexOf(' ('))));
  const absent = report.left.filter((name) => !reshaped.has(name));
  if (absent.length) lines.push(`left at their initial values, not in the run: ${list(absent)}`);
  if (report.reshaped.length) lines.push(`left at their initial values, of another shape in the run: ${list(report.reshaped)}`);
  if (report.unused.length) lines.push(`in the run but not in this model (unused): ${list(report.unused)}`);
  return lines;
}
