/**
 * Saving and loading the Keras model in TensorFlow.js' layers-model format: `model.json` (topology and
 * weights manifest) plus `weights.bin`. We write the files ourselves through a custom save handler,
 * each atomically (temp file, then rename), weights first, so a `model.json` on disk always has
 * complete weights beside it. The result loads with `tf.loadLayersModel` anywhere, once
 * `registerSofarLayers(tf)` has run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { replaceFileAtomic } from '../../src/io/atomic.js';
import { registerSofarLayers } from './layers.js';
import { defaultTf, type LayersModel, type ModelArtifacts, type ModelJSON, type Tf } from './tf.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';


export interface SavedModelInfo {
  modelJson: string;
  weightsBin: string;
  weightBytes: number;
}

/** Writes `dir/model.json` and `dir/weights.bin`; `metadata` lands in the JSON's userDefinedMetadata. */
export async function saveTfjsModel(model: LayersModel, dir: string, metadata: Record<string, unknown> = {}, tf: Tf = defaultTf): Promise<SavedModelInfo> {
  const info: SavedModelInfo = { modelJson: join(dir, MODEL_JSON), weightsBin: join(dir, WEIGHTS_BIN), weightBytes: 0 };
  await model.save(
    tf.io.withSaveHandler(async (artifacts: ModelArtifacts) => {
      const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0)));
      info.weightBytes = weights.byteLength;
      const modelJson: ModelJSON = {
        modelTopology: artifacts.modelTopology as ModelJSON['modelTopology'],
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_layers}`,
        convertedBy: 'SoFAr',
        weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
        userDefinedMetadata: { ...artifacts.userDefinedMetadata, sofar: metadata } as ModelJSON['userDefinedMetadata'],
      };
      replaceFileAtomic(info.weightsBin, weights);
      replaceFileAtomic(info.modelJson, JSON.stringify(modelJson));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
    }),
  );
  return info;
}

/** Loads a model saved by saveTfjsModel (registering SoFAr's layers first). */
export async function loadTfjsModel(dir: string, tf: Tf = defaultTf): Promise<LayersModel> {
  registerSofarLayers(tf);
  const modelJson = JSON.parse(readFileSync(join(dir, MODEL_JSON), 'utf8')) as ModelJSON;
  const artifacts = await tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
    const specs = manifest.flatMap((group) => group.weights);
    const buffers = manifest.flatMap((group) => group.paths.map((p) => bufferOf(readFileSync(join(dir, p)))));
    return [specs, tf.io.CompositeArrayBuffer.join(buffers)];
  });
  return tf.loadLayersModel(tf.io.fromMemory(artifacts));
}

const bufferOf = (b: Buffer): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
