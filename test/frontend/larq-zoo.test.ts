/**
 * Every Larq Zoo model's spec against Larq's own published summary, and ReActNet-A against its paper.
 *
 * Sources (public, with the commit each figure was read at):
 * - [#85] larq/docs commit 0d3dbbbcbd732f6465085df5493607672832ffc4 ("Update weight and parameter
 *   counts in documentation (#85)", 2020-04-22): its message holds `lq.models.summary`'s printed
 *   summary table of each literature model, and its docs/zoo/index.md table Larq's exact parameter
 *   counts ("Parameters"; for Bi-Real Net the table prints the 1-bit count, 10,985,472).
 * - [docs] larq/docs docs/zoo/index.md at commit d633893 ("Upgrade Larq Zoo to v2 (#221)", the page
 *   docs.larq.dev/zoo shows): "Model size" of all 14 models, Larq's counting, in MiB (the page says MB).
 * - [zoo] larq/zoo 77c5853f095d0df4ec338e1e419125b561d1c1af, each model's docstring ("ImageNet
 *   Metrics": Parameters, Memory). For the literature models written before #85 the count is Keras'
 *   count_params() (batch norm 4 values a channel: `kerasParams`); for MeliusNet22 and the QuickNets
 *   (written after it) it is Larq's (`params.total`): each figure is held to the count it equals, and
 *   an independent count of the Keras layers agrees with which one that is.
 * - [ReActNet] Liu et al., "ReActNet", ECCV 2020, Table 3: ReActNet-A 4.82e9 BOPs, 0.12e8 FLOPs,
 *   0.87e8 OPs (OPs = BOPs / 64 + FLOPs).
 */
import { describe, expect, it } from 'vitest';
import { formatSummaryTable, larqMemory, larqNumber, larqSummaryRows } from '../../cli/summary-table.js';
import { compileFile } from '../../src/compile.js';
import { summarize, type Summary } from '../../src/cost.js';
import type { Graph } from '../../src/graph/types.js';

function load(path: string): Graph {
  const r = compileFile(path, {});
  expect(r.diagnostics).toEqual([]);
  return r.graph!;
}

interface Published {
  /** Larq's printed summary rows [#85], label → value. */
  summary?: Record<string, string>;
  /** "Model size" on docs.larq.dev/zoo [docs]. */
  modelSize: string;
  /** Larq's exact total parameter count [#85]. */
  params?: number;
  /** Larq's exact 1-bit parameter count [#85, Bi-Real Net's row]. */
  binaryParams?: number;
  /** Keras' count_params() [zoo, #85's previous table]. */
  kerasParams?: number;
}

/** Larq's summary table as printed in [#85]. */
function printed(rows: [string, string, string, string, string, string, string, string, string, string?]): Record<string, string> {
  const [total, trainable, nonTrainable, size, size8, f32, ratio, macs, binarized, ternarized] = rows;
  return {
    'Total params': total,
    'Trainable params': trainable,
    'Non-trainable params': nonTrainable,
    'Model size': size,
    'Model size (8-bit FP weights)': size8,
    'Float-32 Equivalent': f32,
    'Compression Ratio of Memory': ratio,
    'Number of MACs': macs,
    ...(ternarized ? { 'Ratio of MACs that are ternarized': ternarized } : { 'Ratio of MACs that are binarized': binarized }),
  };
}

const PUBLISHED: Record<string, Published> = {
  binary_alexnet: {
    summary: printed(['61.8 M', '61.8 M', '20.9 k', '7.45 MiB', '7.39 MiB', '235.93 MiB', '0.03', '841 M', '0.9134']),
    modelSize: '7.45 MiB',
    params: 61_848_720,
    kerasParams: 61_859_192,
  },
  bireal_net: {
    summary: printed(['11.7 M', '11.7 M', '9.6 k', '4.00 MiB', '1.98 MiB', '44.59 MiB', '0.09', '1.81 B', '0.9240']),
    modelSize: '4.00 MiB',
    binaryParams: 10_985_472,
    kerasParams: 11_699_112,
  },
  binary_resnet_e_18: {
    summary: printed(['11.7 M', '11.7 M', '9.73 k', '4.00 MiB', '1.98 MiB', '44.59 MiB', '0.09', '1.81 B', '0.9240']),
    modelSize: '4.00 MiB',
    params: 11_689_640,
    kerasParams: 11_699_368,
  },
  binary_densenet28: {
    summary: printed(['5.13 M', '5.11 M', '19 k', '4.04 MiB', '1.39 MiB', '19.58 MiB', '0.21', '3.79 B', '0.9466']),
    modelSize: '4.04 MiB',
    params: 5_131_496,
    kerasParams: 5_150_504,
  },
  binary_densenet37: {
    summary: printed(['8.7 M', '8.67 M', '31.9 k', '5.13 MiB', '1.96 MiB', '33.20 MiB', '0.15', '4.71 B', '0.9576']),
    modelSize: '5.13 MiB',
    params: 8_702_248,
    kerasParams: 8_734_120,
  },
  binary_densenet37_dilated: {
    summary: printed(['8.7 M', '8.67 M', '31.9 k', '5.13 MiB', '1.96 MiB', '33.20 MiB', '0.15', '8.23 B', '0.9450']),
    modelSize: '5.13 MiB',
    params: 8_702_248,
    kerasParams: 8_734_120,
  },
  binary_densenet45: {
    summary: printed(['13.9 M', '13.8 M', '49.7 k', '7.35 MiB', '2.94 MiB', '52.98 MiB', '0.14', '6.67 B', '0.9634']),
    modelSize: '7.35 MiB',
    params: 13_889_512,
    kerasParams: 13_939_240,
  },
  xnornet: {
    summary: printed(['62.4 M', '62.4 M', '19.3 k', '22.77 MiB', '10.90 MiB', '237.99 MiB', '0.10', '1.14 B', '0.9005']),
    modelSize: '22.77 MiB',
    params: 62_387_104,
    kerasParams: 62_396_768,
  },
  dorefanet: {
    summary: printed(['62.4 M', '62.4 M', '18.9 k', '22.80 MiB', '10.91 MiB', '238.02 MiB', '0.10', '3.05 B', '', '0.9590']),
    modelSize: '22.80 MiB',
    params: 62_394_440,
    kerasParams: 62_403_912,
  },
  meliusnet22: { modelSize: '3.88 MiB', params: 6_944_584 },
  real_to_binary_net: { modelSize: '5.13 MiB', kerasParams: 11_995_624 },
  quicknet_small: { modelSize: '4.00 MiB', params: 12_655_688 },
  quicknet: { modelSize: '4.17 MiB', params: 13_234_088 },
  quicknet_large: { modelSize: '5.40 MiB', params: 23_342_248 },
};

const summaries = new Map<string, Summary>();
function summaryOf(name: string): Summary {
  if (!summaries.has(name)) summaries.set(name, summarize(load(`specs/larq/${name}.sofar`)));
  return summaries.get(name)!;
}

describe("Larq's number formatting (larq.models.summary, larq/utils.py)", () => {
  it('counts: 3 significant figures with k / M / B, ties to even as Python rounds', () => {
    expect(larqNumber(0)).toBe('0');
    expect(larqNumber(841)).toBe('841');
    expect(larqNumber(9_600)).toBe('9.6 k');
    expect(larqNumber(19_008)).toBe('19 k');
    expect(larqNumber(8_702_248)).toBe('8.7 M');
    expect(larqNumber(1_700_000_000)).toBe('1.7 B');
    expect(larqNumber(999_500)).toBe('1 M'); // 999.5 k rounds to 1,000 k (to even), then shows as 1 M
    expect(larqNumber(12_250_000)).toBe('12.2 M'); // an exact tie: Python's "%.3g" keeps the even digit
    expect(larqNumber(12_350_000)).toBe('12.4 M');
  });

  it('sizes: B / KiB / MiB / GiB with 2 decimals and thousands separators', () => {
    expect(larqMemory(8 * 4_189_344)).toBe('4.00 MiB');
    expect(larqMemory(8 * 1000)).toBe('1,000.00 B');
    expect(larqMemory(8 * 4.125 * 2 ** 20)).toBe('4.12 MiB'); // an exact tie, to even
    expect(larqMemory(8 * 4.375 * 2 ** 20)).toBe('4.38 MiB');
    expect(larqMemory(8 * 1536 * 2 ** 30)).toBe('1,536.00 GiB');
  });
});

describe("every Larq Zoo spec prints Larq's published summary", () => {
  it.each(Object.keys(PUBLISHED))('%s', (name) => {
    const published = PUBLISHED[name];
    const s = summaryOf(name);
    const rows = Object.fromEntries(larqSummaryRows(s));
    if (published.summary) expect(rows).toEqual(published.summary);
    expect(rows['Model size']).toBe(published.modelSize);
    if (published.params !== undefined) expect(s.params.total).toBe(published.params);
    if (published.binaryParams !== undefined) expect(s.params.binary).toBe(published.binaryParams);
    if (published.kerasParams !== undefined) expect(s.kerasParams).toBe(published.kerasParams);
    // Larq's counting: batch norm keeps 2 values a channel, all of them non-trainable moving statistics.
    expect(s.params.total).toBe(s.params.trainable + s.params.nonTrainable);
  });
});

describe('sofar summary prints the table Larq prints', () => {
  it('DoReFa-Net: its 2-bit MACs are "ternarized", none binarized; the layers show their MAC precision', () => {
    const text = formatSummaryTable(summaryOf('dorefanet'));
    expect(text).toMatch(/Ratio of MACs that are ternarized\s+│\s+0\.9590/);
    expect(text).not.toContain('binarized');
    expect(text).toMatch(/2-bit MACs/);
    expect(text).toMatch(/Params \(Keras count_params\(\)\)\s+│\s+62,403,912/);
  });
});

describe('a Larq-named spec and the older spec of the same model agree figure for figure', () => {
  /** The summary without names and source locations: every count, per layer and in total. */
  function figures(s: Summary) {
    const { name: _name, layers, ...totals } = s;
    return { ...totals, layers: layers.map(({ name: _n, source: _s, ...l }) => l) };
  }
  it.each([
    ['bireal_net', 'bireal-resnet18'],
    ['binary_densenet28', 'binarydensenet28'],
    ['binary_densenet37', 'binarydensenet37'],
    ['binary_densenet45', 'binarydensenet45'],
  ])('specs/larq/%s = specs/%s', (larq, older) => {
    const [a, b] = [load(`specs/larq/${larq}.sofar`), load(`specs/${older}.sofar`)];
    expect(figures(summarize(a))).toEqual(figures(summarize(b)));
    // The same graph: node names, ops, shapes, attributes, parameter names and shapes, so one checkpoint
    // serves both. Only initialisers may differ (Larq Zoo's Bi-Real stem starts from glorot_normal).
    const structure = (g: Graph) =>
      g.nodes.map(({ source: _s, params, ...n }) => ({ ...n, params: params.map(({ init: _i, ...p }) => p) }));
    expect(structure(a)).toEqual(structure(b));
  });
});

describe('the layer counts and shapes the papers and Larq Zoo state', () => {
  const nodes = (name: string, path = `specs/larq/${name}.sofar`) => load(path).nodes;
  const binaryConvs = (g: Graph['nodes']) => g.filter((n) => n.op === 'conv' && n.attrs.kernelQuantizer !== null);
  const shapeOf = (g: Graph['nodes'], name: string) => g.find((n) => n.name === name)?.shape;

  it('BinaryDenseNets end at 7×7×576 / 7×7×640 / 28×28×640 (dilated) / 7×7×800 (larq/zoo models_test)', () => {
    for (const [name, shape, convs] of [
      ['binary_densenet28', [576, 7, 7], 23],
      ['binary_densenet37', [640, 7, 7], 32],
      ['binary_densenet37_dilated', [640, 28, 28], 32],
      ['binary_densenet45', [800, 7, 7], 40],
    ] as const) {
      const g = nodes(name);
      const gap = g.find((n) => n.op === 'global_avgpool')!;
      expect(g[gap.inputs[0]].shape).toEqual(shape);
      expect(binaryConvs(g)).toHaveLength(convs);
    }
  });

  it('Bi-Real Net and ResNet-E 18: 16 binary 3×3 convs, 512×7×7 before the pool', () => {
    for (const name of ['bireal_net', 'binary_resnet_e_18']) {
      const g = nodes(name);
      expect(binaryConvs(g)).toHaveLength(16);
      const gap = g.find((n) => n.op === 'global_avgpool')!;
      expect(g[gap.inputs[0]].shape).toEqual([512, 7, 7]);
    }
  });

  it('Binary AlexNet: 27×27×64 after the first pool, 6×6×256 = 9,216 features, all 8 layers binary', () => {
    const g = nodes('binary_alexnet');
    expect(g.filter((n) => n.op === 'maxpool').map((n) => n.shape)).toEqual([[64, 27, 27], [192, 13, 13], [256, 6, 6]]);
    expect(g.find((n) => n.op === 'flatten')!.shape).toEqual([9216]);
    const layers = g.filter((n) => n.op === 'conv' || n.op === 'dense');
    expect(layers).toHaveLength(8);
    expect(layers.every((n) => n.attrs.kernelQuantizer !== null)).toBe(true);
    expect(g[g.length - 1].shape).toEqual([1000]);
  });

  it('XNOR-Net: the 6×6 VALID binary conv leaves 4096×1×1; the classifier is real and has no bias', () => {
    const g = nodes('xnornet');
    const convs = binaryConvs(g);
    expect(convs.map((n) => n.shape[0])).toEqual([256, 384, 384, 256, 4096, 4096]);
    expect(convs[4].shape).toEqual([4096, 1, 1]);
    const dense = g.filter((n) => n.op === 'dense');
    expect(dense).toHaveLength(1);
    expect(dense[0].params.map((p) => p.role)).toEqual(['kernel']);
  });

  it('DoReFa-Net: a 54×54×96 real stem, 6 layers on 2-bit inputs, 6×6×256 before the classifier', () => {
    const g = nodes('dorefanet');
    expect(g.find((n) => n.op === 'conv')!.shape).toEqual([96, 54, 54]);
    expect(summaryOf('dorefanet').macs.byBits['2']).toBeGreaterThan(0);
    const twoBit = summaryOf('dorefanet').layers.filter((l) => l.macBits === 2);
    expect(twoBit).toHaveLength(6);
    expect(g.find((n) => n.op === 'flatten')!.shape).toEqual([9216]);
  });

  it('MeliusNet22: 34 binary 3×3 convs; channels 64 → 320 → 160 → 480 → 224 → 480 → 256 → 512', () => {
    const g = nodes('meliusnet22');
    expect(binaryConvs(g)).toHaveLength(34);
    const transitions = g.filter((n) => n.op === 'conv' && n.attrs.kernel[0] === 1);
    expect(transitions.map((n) => g[n.inputs[0]].shape[0])).toEqual([320, 480, 480]);
    expect(transitions.map((n) => n.shape)).toEqual([[160, 28, 28], [224, 14, 14], [256, 7, 7]]);
    const gap = g.find((n) => n.op === 'global_avgpool')!;
    expect(g[gap.inputs[0]].shape).toEqual([512, 7, 7]);
  });

  it('Real-to-Binary Net: 16 binary convs, each scaled by its own squeeze-and-excite branch', () => {
    const g = nodes('real_to_binary_net');
    expect(binaryConvs(g)).toHaveLength(16);
    expect(g.filter((n) => n.op === 'multiply')).toHaveLength(16);
    expect(g.filter((n) => n.op === 'sigmoid')).toHaveLength(16);
    expect(g.filter((n) => n.op === 'prelu')).toHaveLength(17);
    const gap = g.filter((n) => n.op === 'global_avgpool').at(-1)!;
    expect(g[gap.inputs[0]].shape).toEqual([512, 7, 7]);
  });

  it('QuickNet family: 16 / 16 / 32 binary convs, one-padded; 3 fixed blur-pool transitions; 56 → 28 → 14 → 7', () => {
    for (const [name, convs] of [['quicknet_small', 16], ['quicknet', 16], ['quicknet_large', 32]] as const) {
      const g = nodes(name);
      const binary = binaryConvs(g);
      expect(binary).toHaveLength(convs);
      expect(binary.every((n) => n.op === 'conv' && n.attrs.padValue === 1)).toBe(true);
      const blur = g.filter((n) => n.params.some((p) => p.init === 'fixed'));
      expect(blur.map((n) => n.shape.slice(1))).toEqual([[28, 28], [14, 14], [7, 7]]);
      expect(blur.every((n) => n.params.every((p) => !p.trainable))).toBe(true);
      const gap = g.find((n) => n.op === 'global_avgpool')!;
      expect(g[gap.inputs[0]].shape).toEqual([512, 7, 7]);
    }
  });

  it("ReActNet-A: 13 blocks (31 binary convs), 1024×7×7 at the end; the paper's BOPs, FLOPs and OPs", () => {
    const g = nodes('reactnet_a', 'specs/reactnet-a.sofar');
    const binary = binaryConvs(g);
    // 13 3×3 convs, 1×1 convs: 8 single ones and 5 pairs where the width doubles.
    expect(binary.filter((n) => n.op === 'conv' && n.attrs.kernel[0] === 3)).toHaveLength(13);
    expect(binary.filter((n) => n.op === 'conv' && n.attrs.kernel[0] === 1)).toHaveLength(18);
    const gap = g.find((n) => n.op === 'global_avgpool')!;
    expect(g[gap.inputs[0]].shape).toEqual([1024, 7, 7]);
    const s = summarize(load('specs/reactnet-a.sofar'));
    expect((s.macs.binary / 1e9).toFixed(2)).toBe('4.82');
    expect((s.macs.float / 1e8).toFixed(2)).toBe('0.12');
    expect((s.ops / 1e8).toFixed(2)).toBe('0.87');
  });

  it('the Fashion-MNIST QuickNet-Small and ReActNet-small take 1×28×28, give 10 classes, a few hundred k params', () => {
    for (const name of ['quicknet-small', 'reactnet-small']) {
      const g = load(`specs/fashion/${name}.sofar`);
      expect(g.input).toEqual([1, 28, 28]);
      expect(g.nodes[g.output].shape).toEqual([10]);
      const s = summarize(g);
      expect(s.params.total).toBeGreaterThan(100_000);
      expect(s.params.total).toBeLessThan(600_000);
      expect(s.binarizedRatio).toBeGreaterThan(0.9);
    }
  });

  it("ReActNet-small's first step (weight_q=none) has real weights and the same parameters, so --init carries them", () => {
    const binary = load('specs/fashion/reactnet-small.sofar');
    const real = compileFile('specs/fashion/reactnet-small.sofar', { params: { weight_q: 'none' } }).graph!;
    const params = (g: Graph) => g.nodes.flatMap((n) => n.params.map((p) => `${p.name} ${p.shape.join('x')}`));
    expect(params(real)).toEqual(params(binary));
    expect(summarize(binary).params.binary).toBeGreaterThan(200_000);
    expect(summarize(real).params.binary).toBe(0);
    expect(summarize(real).params.total).toBe(summarize(binary).params.total);
  });
});
