/** Small graphs for the loop tests, built with the GraphBuilder. */
import { GraphBuilder } from '../../src/graph/builder.js';
import type { Graph } from '../../src/graph/types.js';

/** input C×H×W → flatten → dense(classes): softmax regression, what the fake engine trains. */
export function regressionGraph(input: [number, number, number] = [1, 4, 4], classes = 4, name = 'regression'): Graph {
  const b = new GraphBuilder({ name, input, classes });
  return b.finish(b.dense(b.flatten(b.input()), { units: classes, name: 'head' }));
}

/**
 * A fractal of ReLUs (3 columns, local and global drop-path) and a dropout before the head: the fake
 * engine ignores the ReLUs but consumes both kinds of masks, so resumption must reproduce them.
 */
export function noisyGraph(): Graph {
  const b = new GraphBuilder({ name: 'noisy', input: [1, 4, 4], classes: 4 });
  const f = b.fractal(b.input(), { columns: 3, dropPath: 0.5, globalDropPath: 0.5 }, (z) => b.relu(z));
  const d = b.dropout(b.flatten(f), { rate: 0.25 });
  return b.finish(b.dense(d, { units: 4, name: 'head' }));
}
