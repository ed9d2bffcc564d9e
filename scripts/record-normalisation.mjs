#!/usr/bin/env node
/**
 * Records in a SoFAr ONNX export the input normalisation it was trained with (`sofar.normalisation`, as
 * `sofar train` and `sofar build --weights RUN` write it), for a model exported before that record
 * existed: node scripts/record-normalisation.mjs MODEL.onnx DATASET (fashion-mnist, mnist, cifar10: the
 * fixed statistics `sofar train --data DATASET` normalises with). The weights and graph stay as they are.
 * Run after `npm run build`. Used once for web/models/bireal-small.onnx, whose training run is gone.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { onnx } from '../dist/backends/onnx/proto.js';
import { encodeInputNormalisation, namedNormalisation, NORMALISATION_METADATA_KEY } from '../dist/src/data/normalise.js';

const [model, dataset] = process.argv.slice(2);
if (!model || !dataset) {
  console.error('usage: node scripts/record-normalisation.mjs MODEL.onnx DATASET');
  process.exit(2);
}
const proto = onnx.ModelProto.decode(readFileSync(model));
const props = proto.metadataProps ?? [];
const channels = Number(proto.graph.input[0].type.tensorType.shape.dim[1].dimValue);
const normalisation = namedNormalisation(dataset, channels);
if (!normalisation) {
  console.error(`no fixed normalisation for ${dataset} with ${channels} channels`);
  process.exit(1);
}
if (props.some((p) => p.key === NORMALISATION_METADATA_KEY)) {
  console.error(`${model} already records its normalisation`);
  process.exit(1);
}
proto.metadataProps = [...props, { key: NORMALISATION_METADATA_KEY, value: encodeInputNormalisation(normalisation) }];
writeFileSync(model, onnx.ModelProto.encode(proto));
console.log(`${model}: ${NORMALISATION_METADATA_KEY} = ${encodeInputNormalisation(normalisation)}`);
