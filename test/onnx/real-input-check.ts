/**
 * Issue 20 makes a quantized kernel on a real input legitimate (BinaryAlexNet's first layer, DoReFa's
 * k-bit activations), but relaxing src/check.ts belongs to the language's slice of the work. Until that
 * lands, the backend suites lift exactly that one refusal (code `precision`, "is fed real values") with
 * `vi.mock('../../src/check.js', liftRealInputRefusal)`; every other check still applies. Once the
 * checker accepts such graphs this is a no-op.
 */
import type * as CheckModule from '../../src/check.js';
import type { Graph } from '../../src/graph/types.js';

export async function liftRealInputRefusal(importOriginal: () => Promise<typeof CheckModule>): Promise<typeof CheckModule> {
  const real = await importOriginal();
  const check: typeof real.check = (graph: Graph) => real.check(graph).filter((d) => !(d.code === 'precision' && d.message.includes('is fed real values')));
  const assertValid: typeof real.assertValid = (graph: Graph) => {
    const errors = check(graph).filter((d) => d.severity === 'error' && d.code !== 'output-shape');
    if (errors.length) throw new Error(errors.map((d) => d.message).join('\n'));
  };
  return { ...real, check, assertValid };
}
