/**
 * `sofar convert MODEL.onnx --binary-ops [-o OUT] [--spec SPEC]`: SoFAr's standard ONNX export of a
 * model (`sofar train`'s model.onnx, `sofar build`'s .onnx) in its `--binary-ops` form for SoFAr's
 * runtime and the page, with the same weights. The graph is the one the export records (metadata
 * `sofar.graph`, backends/onnx/to-binary-ops.ts: the conversion SoFAr's runtime does on load); an export
 * that records none (SoFAr before 0.1) has it rebuilt from the spec the model names (its `sofar.spec`
 * and `sofar.params` metadata, the spec file its summary's sources point to, else --spec). The weights
 * are read back from the model (backends/onnx/weights-from-export.ts), and the binary-ops lowering
 * exports them, keeping the model's metadata (weights source, input normalisation).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { decodeInputNormalisation, NORMALISATION_METADATA_KEY } from '../../src/data/normalise.js';
import { loadGraph, UsageError, userFailure, writeFileAtomic } from '../common.js';
import { exportModel, PARAMS_METADATA_KEY } from '../models.js';

interface ConvertFlags {
  binaryOps?: boolean;
  out?: string;
  spec?: string;
}

export function register(program: Command): void {
  program
    .command('convert')
    .description("convert SoFAr's standard ONNX export (sofar train's model.onnx) to the --binary-ops form, weights kept")
    .argument('<model>', "a model.onnx that SoFAr exported (sofar train, sofar build)")
    .option('--binary-ops', "binary layers as SoFAr-domain operators, for SoFAr's runtime and the page (the one form today)")
    .option('-o, --out <path>', 'where to write it (default: MODEL.binary-ops.onnx beside the model)')
    .option('--spec <file>', "the model's .sofar spec, where the path its metadata records does not exist here")
    .action((model: string, flags: ConvertFlags) => convertCommand(model, flags));
}

async function convertCommand(path: string, flags: ConvertFlags): Promise<void> {
  if (!flags.binaryOps) throw new UsageError('convert needs the form to convert to', 'give --binary-ops');
  if (!existsSync(path)) throw userFailure(`no model at ${path}`);
  const bytes = new Uint8Array(readFileSync(path));
  const { readModelMetadata } = await import('../../backends/onnx/proto.js');
  const metadata = readModelMetadata(bytes);
  const name = metadata['sofar.spec'];
  const rebuild = `export it from its spec instead: sofar build SPEC --weights RUN --binary-ops (RUN: the sofar train --out folder)`;
  if (!name) throw userFailure(`${path} is not a model SoFAr exported (it has no sofar.spec metadata)`, rebuild);
  if (metadata['sofar.variant'] === 'binary-ops') throw userFailure(`${path} is already the --binary-ops form`, 'run it: sofar run MODEL --runtime sofar');
  const out = flags.out ?? path.replace(/(\.onnx)?$/i, '.binary-ops.onnx');
  const source = metadata['sofar.weights'] ?? `converted from ${path}`;
  const { recordsGraph, binaryOpsFromStandardExport } = await import('../../backends/onnx/to-binary-ops.js');
  let converted: Uint8Array;
  if (recordsGraph(metadata) && !flags.spec) {
    try {
      converted = binaryOpsFromStandardExport(bytes, metadata);
    } catch (e) {
      throw userFailure(`${path} records its graph, but it does not convert: ${(e as Error).message}`, `give its spec: sofar convert ${path} --binary-ops --spec SPEC.sofar, or ${rebuild}`);
    }
  } else converted = await convertFromSpec(path, bytes, metadata, flags.spec, rebuild);
  writeFileAtomic(out, converted);
  process.stdout.write(`wrote ${out} (${name}, binary layers as ai.sofar operators; weights: ${source})\n`);
}

/** The --binary-ops model of an export that records no graph: the graph rebuilt from its spec. */
async function convertFromSpec(path: string, bytes: Uint8Array, metadata: Record<string, string>, given: string | undefined, rebuild: string): Promise<Uint8Array> {
  const name = metadata['sofar.spec'];
  const spec = specFile(path, metadata, given);
  if (!spec) throw userFailure(`the spec of ${path} (model ${name}) is not here`, `give it: sofar convert ${path} --binary-ops --spec SPEC.sofar`);
  const set = Object.entries(parseParams(metadata[PARAMS_METADATA_KEY])).map(([k, v]) => `${k}=${v}`);
  const { graph } = loadGraph(spec, { model: name, set });
  const { weightsFromStandardExport } = await import('../../backends/onnx/weights-from-export.js');
  let weights;
  try {
    weights = weightsFromStandardExport(graph, bytes);
  } catch (e) {
    throw userFailure(`${path} does not hold the weights of ${name} as ${spec} builds it: ${(e as Error).message}`, `check --spec, or ${rebuild}`);
  }
  const source = metadata['sofar.weights'] ?? `converted from ${path}`;
  return exportModel(graph, weights, { pack: true, binaryOps: true }, source, { normalisation: decodeInputNormalisation(metadata[NORMALISATION_METADATA_KEY]), set });
}

/** --spec, else the spec file the model's summary names (as given when it was built, then in this package's specs/). */
function specFile(model: string, metadata: Record<string, string>, given: string | undefined): string | null {
  if (given) {
    if (!existsSync(given)) throw userFailure(`no spec at ${given}`);
    return given;
  }
  let recorded: string | undefined;
  try {
    const summary = JSON.parse(metadata['sofar.summary'] ?? '{}') as { layers?: { source?: string }[] };
    recorded = summary.layers?.find((l) => l.source)?.source?.replace(/:\d+:\d+$/, '');
  } catch {
    return null;
  }
  if (!recorded) return null;
  const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  return [recorded, join(dirname(model), recorded), join(packageRoot, recorded)].find((p) => existsSync(p)) ?? null;
}

function parseParams(text: string | undefined): Record<string, string> {
  try {
    const v = JSON.parse(text ?? '{}') as unknown;
    return v && typeof v === 'object' ? (v as Record<string, string>) : {};
  } catch {
    return {};
  }
}
