/**
 * A small builder for an ONNX graph: nodes, constant initialisers and unique value names, kept as
 * plain objects of onnx-proto's generated protobufjs types (onnx.proto, encoded by protobufjs), so
 * the exporter never writes protobuf wire format by hand.
 */
import onnxProto from 'onnx-proto';

export const onnx = onnxProto.onnx;
/** An attribute: an integer, integers, a string, or a float ({ f }) / floats ({ floats }). */
export type Attr = number | number[] | string | { f: number } | { floats: number[] };

export class GraphBuilder {
  readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  private readonly used = new Set<string>();

  /** A fresh value name based on `base` (layer names can repeat across shared layers). */
  name(base: string): string {
    const clean = base.replace(/[^A-Za-z0-9_./-]/g, '_') || 'v';
    let n = clean;
    for (let i = 1; this.used.has(n); i++) n = `${clean}_${i}`;
    this.used.add(n);
    return n;
  }

  /** Adds a node; returns its (single) output name. */
  node(op: string, inputs: string[], base: string, attrs: Record<string, Attr> = {}): string {
    const out = this.name(base);
    this.nodes.push(
      onnx.NodeProto.create({
        opType: op,
        name: this.name(`${base}__${op}`),
        input: inputs,
        output: [out],
        attribute: Object.entries(attrs).map(([name, v]) => attribute(name, v)),
      }),
    );
    return out;
  }

  /** A float32 constant. */
  floats(base: string, dims: number[], values: ArrayLike<number>): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (values.length !== n) throw new Error(`onnx export: constant ${base} has ${values.length} values for shape [${dims.join(', ')}]`);
    const data = Float32Array.from(values);
    const name = this.name(base);
    this.initializers.push(onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) }));
    return name;
  }

  /** An int64 constant (shapes, pads, indices). */
  int64s(base: string, values: number[]): string {
    const name = this.name(base);
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push(onnx.TensorProto.create({ name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(data.buffer) }));
    return name;
  }
}

function attribute(name: string, v: Attr): InstanceType<typeof onnx.AttributeProto> {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return onnx.AttributeProto.create({ name, type: T.STRING, s: new TextEncoder().encode(v) });
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`onnx export: attribute ${name} = ${v} is not an integer; pass { f } for a float`);
    return onnx.AttributeProto.create({ name, type: T.INT, i: v });
  }
  if (Array.isArray(v)) return onnx.AttributeProto.create({ name, type: T.INTS, ints: v });
  if ('f' in v) return onnx.AttributeProto.create({ name, type: T.FLOAT, f: v.f });
  return onnx.AttributeProto.create({ name, type: T.FLOATS, floats: v.floats });
}

/** A tensor's value info: element type and shape (null = a symbolic dimension named `batch`). */
export function valueInfo(name: string, elemType: number, shape: (number | null)[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: shape.map((d) => (d === null ? { dimParam: 'batch' } : { dimValue: d })) },
      },
    },
  });
}
