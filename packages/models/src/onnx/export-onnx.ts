/**
 * ONNX export of a saved classifier: one graph from raw pixels to the numbers predict and serve
 * use, so ONNX Runtime can run the forward pass without TensorFlow.js.
 *
 *   input  `image`          uint8 [batch, imgSize, imgSize, 3], RGB, as decodeImage returns it
 *                           (decoded at the model's size and fit; the fit is in the metadata)
 *   output `features`       float [batch, featureDim], the input of the final Dense layer
 *          `logits`         float [batch, units], that layer before its activation
 *          `probabilities`  float [batch, units], the model's output (Keras' model.predict)
 *
 * The preprocessing recorded with the model (ClassifierMeta.preprocess) is in the graph, as the
 * same operations preprocessInput applies; the whole ClassifierMeta is kept in the model's
 * metadata (`parts.classifier`, JSON) with the preprocessing again as `parts.preprocess`, so an
 * ONNX file read on its own says how to feed it. Opset 13, IR version 8 (Debian's onnx 1.12 checks it).
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ClassifierMeta } from '../types';
import { CAFFE_MEAN_BGR } from '../preprocess';
import { GraphBuilder, onnx, valueInfo } from './graph-builder';
import { activation, convertLayer, type Value } from './layer-converters';

export const ONNX_OPSET = 13;
export const ONNX_IR_VERSION = 8;
/** Metadata keys of the exported model. */
export const ONNX_META_CLASSIFIER = 'parts.classifier';
export const ONNX_META_PREPROCESS = 'parts.preprocess';
export const ONNX_OUTPUTS = ['features', 'logits', 'probabilities'] as const;

/** Raw pixels (NHWC uint8) to the model's preprocessed NCHW float input. */
function preprocessNodes(g: GraphBuilder, meta: ClassifierMeta): string {
  const x = g.node('Cast', ['image'], 'image_float', { to: onnx.TensorProto.DataType.FLOAT });
  const nchw = g.node('Transpose', [x], 'image_nchw', { perm: [0, 3, 1, 2] });
  switch (meta.preprocess) {
    case 'rescale01':
      return g.node('Div', [nchw, g.floats('pre_255', [], [255])], 'preprocessed');
    case 'tf':
      return g.node('Sub', [g.node('Div', [nchw, g.floats('pre_127_5', [], [127.5])], 'pre_scaled'), g.floats('pre_one', [], [1])], 'preprocessed');
    case 'caffe': {
      const bgr = g.node('Gather', [nchw, g.int64s('pre_bgr', [2, 1, 0])], 'pre_bgr_image', { axis: 1 });
      return g.node('Sub', [bgr, g.floats('pre_mean_bgr', [1, 3, 1, 1], CAFFE_MEAN_BGR)], 'preprocessed');
    }
    case 'none':
      return nchw;
    default:
      throw new Error(`onnx export: unknown preprocess ${JSON.stringify(meta.preprocess)}`);
  }
}

interface KerasNode {
  inputTensors: tfl.SymbolicTensor[];
  outputTensors: tfl.SymbolicTensor[];
}

/** The ONNX model (protobuf bytes) of a classifier with one image input and a final Dense layer. */
export function exportOnnx(model: tfl.LayersModel, meta: ClassifierMeta): Uint8Array {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) throw new Error(`onnx export: model ${model.name} has ${model.inputs.length} inputs and ${model.outputs.length} outputs, expected 1 and 1`);
  const size = meta.imgSize;
  const inShape = model.inputs[0].shape;
  if (inShape.length !== 4 || inShape[1] !== size || inShape[2] !== size || inShape[3] !== 3) throw new Error(`onnx export: model input ${JSON.stringify(inShape)} does not match imgSize ${size} RGB`);
  const finalTensor = model.outputs[0];
  const finalLayer = finalTensor.sourceLayer as tfl.layers.Layer;
  if (finalLayer.getClassName() !== 'Dense') throw new Error(`onnx export: the last layer "${finalLayer.name}" is ${finalLayer.getClassName()}, expected the Dense prediction layer`);

  const g = new GraphBuilder();
  g.name('image');
  const values = new Map<number, Value>([[model.inputs[0].id, { name: preprocessNodes(g, meta), rank: 4, shape: [size, size, 3] }]]);
  type Outputs = { features: string; logits: string; probabilities: string; featureDim: number; units: number };
  const found: Outputs[] = [];

  // Layers come in topological order; a layer shared with another model (the extract head) has
  // nodes outside this graph, so only nodes whose inputs are all values of this graph are emitted.
  for (const layer of model.layers) {
    const nodes = (layer as unknown as { inboundNodes: KerasNode[] }).inboundNodes;
    nodes.forEach((node, nodeIndex) => {
      if (layer.getClassName() === 'InputLayer') return;
      if (!node.inputTensors.every((t) => values.has(t.id))) return;
      if (node.outputTensors.every((t) => values.has(t.id))) return;
      if (['Functional', 'Model', 'Sequential'].includes(layer.getClassName())) throw new Error(`onnx export: layer ${layer.name} is a nested model; save the classifier flat`);
      const inputs = node.inputTensors.map((t) => values.get(t.id)!);
      const out = node.outputTensors[0];
      if (out.id === finalTensor.id) {
        const cfg = layer.getConfig() as { activation?: string; units: number; useBias?: boolean };
        const w = layer.getWeights();
        const [fdim, units] = w[0].shape;
        const features = g.node('Identity', [inputs[0].name], 'features');
        const gemmIn = [features, g.floats(`${layer.name}_W`, [fdim, units], w[0].dataSync())];
        if (cfg.useBias !== false && w[1]) gemmIn.push(g.floats(`${layer.name}_B`, [units], w[1].dataSync()));
        const z = g.node('Gemm', gemmIn, `${layer.name}_logits`);
        const logits = g.node('Identity', [z], 'logits');
        const p = activation(g, { name: z, rank: 2, shape: [units] }, cfg.activation, layer.name);
        const probabilities = g.node('Identity', [p.name], 'probabilities');
        found.push({ features, logits, probabilities, featureDim: fdim, units });
        values.set(out.id, { name: probabilities, rank: 2, shape: [units] });
        return;
      }
      values.set(out.id, convertLayer(g, layer, nodeIndex, inputs));
    });
  }
  const o = found[0];
  if (!o) throw new Error(`onnx export: the prediction layer "${finalLayer.name}" was not reached from the model input`);
  for (const [k, v] of [['features', o.features], ['logits', o.logits], ['probabilities', o.probabilities]] as const) {
    if (v !== k) throw new Error(`onnx export: a layer is named ${k}; rename it`);
  }

  const F = onnx.TensorProto.DataType.FLOAT;
  const graph = onnx.GraphProto.create({
    name: model.name,
    node: g.nodes,
    initializer: g.initializers,
    input: [valueInfo('image', onnx.TensorProto.DataType.UINT8, [null, size, size, 3])],
    output: [valueInfo('features', F, [null, o.featureDim]), valueInfo('logits', F, [null, o.units]), valueInfo('probabilities', F, [null, o.units])],
  });
  const proto = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'parts-classifier',
    producerVersion: '1',
    docString: `${meta.arch}/${meta.mode} classifier; input: uint8 RGB [batch, ${size}, ${size}, 3] decoded with fit ${meta.fit}; preprocessing ${meta.preprocess} is in the graph${meta.lightNorm && meta.lightNorm !== 'none' ? `; light normalisation ${meta.lightNorm} is applied to the uint8 input before it (data/src/light-norm.ts)` : ''}`,
    graph,
    metadataProps: [
      { key: ONNX_META_CLASSIFIER, value: JSON.stringify(meta) },
      { key: ONNX_META_PREPROCESS, value: meta.preprocess },
    ],
  });
  return onnx.ModelProto.encode(proto).finish();
}

/** The classifier metadata stored in an exported model's bytes (null when it has none). */
export function onnxClassifierMeta(bytes: Uint8Array): ClassifierMeta | null {
  const m = onnx.ModelProto.decode(bytes);
  const entry = m.metadataProps.find((p) => p.key === ONNX_META_CLASSIFIER);
  return entry?.value ? (JSON.parse(entry.value) as ClassifierMeta) : null;
}
