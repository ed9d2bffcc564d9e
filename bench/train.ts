/**
 * Training throughput (samples/s) of the ORT engine, and of the tfjs engine on a few steps, for the
 * Fashion-MNIST zoo nets at batch 128. Writes bench/results/train.json. Not a test: run it alone
 * (`npm run build && node dist/bench/train.js`).
 */
import { GraphBuilder, type Tensor } from '../src/graph/builder.js';
import type { Graph } from '../src/graph/types.js';

const BINARIZE = { activations: 'approx_sign', weights: 'magnitude_aware_sign' } as const;

/** Bi-Real unit: x + BN(bconv3x3(approx_sign(x))); strided units project the shortcut. */
function biRealUnit(b: GraphBuilder, x: Tensor, channels: number, stride: 1 | 2): Tensor {
  return b.block('unit', () =>
    b.residual(x, (z) => b.batchnorm(b.bconv(z, { filters: channels, kernel: 3, stride })), {
      shortcut:
        stride === 1 && channels === x.shape[0]
          ? null
          : (z) => b.batchnorm(b.conv(b.avgpool(z, { kernel: 2, stride: 2 }), { filters: channels, kernel: 1 })),
    }),
  );
}

/** fashion/bireal-small as the issue describes it, built with GraphBuilder (until specs/ exist). */
export function birealSmall(): Graph {
  const b = new GraphBuilder({ name: 'bireal_small', input: [1, 28, 28], classes: 10, binarize: BINARIZE });
  let x = b.scope('stem', () => b.batchnorm(b.conv(b.input(), { filters: 32, kernel: 3 })));
  x = b.scope('stage1', () => biRealUnit(b, biRealUnit(b, x, 32, 1), 32, 1));
  x = b.scope('stage2', () => biRealUnit(b, biRealUnit(b, x, 64, 2), 64, 1));
  x = b.scope('stage3', () => biRealUnit(b, biRealUnit(b, x, 128, 2), 128, 1));
  return b.finish(b.dense(b.globalAvgpool(x), { units: 10, bias: true }));
}

/** A residual-fractal net with 3 columns of Bi-Real units per stage (stand-in for specs/fashion/rf-c3-small). */
export function rfC3Small(): Graph {
  const b = new GraphBuilder({ name: 'rf_c3_small', input: [1, 28, 28], classes: 10, binarize: BINARIZE });
  let x = b.scope('stem', () => b.batchnorm(b.conv(b.input(), { filters: 32, kernel: 3 })));
  const widths = [32, 64, 128];
  widths.forEach((ch, i) => {
    x = b.scope(`stage${i + 1}`, () => {
      const entry = i === 0 ? x : biRealUnit(b, x, ch, 2);
      return b.fractal(entry, { columns: 3, join: 'mean', dropPath: 0.15, globalDropPath: 0.5 }, (z) => biRealUnit(b, z, ch, 1));
    });
  });
  return b.finish(b.dense(b.globalAvgpool(x), { units: 10, bias: true }));
}
