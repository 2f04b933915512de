// Convolutions on WebGPU as tiled implicit GEMMs (NHWC, filter [KH, KW, CI, CO]).
//
// Why: tfjs-backend-webgpu 4.22's Conv2DBackpropFilter is a naive kernel, one thread per filter
// element looping over batch×height×width (2M iterations for Tiny VGG at 256px, batch 32): it made
// the training step ~60× slower than the forward pass. Its forward Conv2D and Conv2DBackpropInput
// fall back to scalar (non-vec4) tiles when the channel count is not a multiple of 4 (Tiny VGG: 50).
//
// All three are C[M,N] = Σ_k A(m,k)·B(k,n) with A gathered from the image-like operand:
//   forward       m=(b,oh,ow)  n=co  k=(kh,kw,ci)  A=x[b, oh·s-p+kh·d, ow·s-p+kw·d, ci]   B=W[k,co]
//   input grad    m=(b,ih,iw)  n=ci  k=(kh,kw,co)  A=dy[b, (ih+p-kh·d)/s, (iw+p-kw·d)/s, co]  B=W[kh,kw,ci,co]
//   filter grad   m=(kh,kw,ci) n=co  k=(b,oh,ow)   A=x[b, oh·s-p+kh·d, ow·s-p+kw·d, ci]   B=dy[k,co]
// The filter gradient has a tiny M×N and a huge K, so K is split over workgroups (partial sums
// in a [splits, M, N] buffer, then a second pass adds them up: WGSL has no float atomics).
//
// Tiling: 256 threads (16×16), tile BM×BN = 16·TM × 16·TN, BK = 16, tiles in workgroup memory,
// each thread accumulates TM×TN outputs in registers. Loads are laid out so consecutive threads
// read consecutive addresses of the gathered operand (channels are innermost in NHWC).
import { backend_util, util, type TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

export type ConvGemmOp = 'forward' | 'inputGrad' | 'filterGrad';

export interface TileConfig {
  /** Rows per thread (tile height BM = 16·tm); 4 or 8. */
  tm: 4 | 8;
  /** Columns per thread (tile width BN = 16·tn); 2 or 4. */
  tn: 2 | 4;
}

const BK = 16;

/** Geometry uniforms shared by the three ops (all i32). */
const UNIFORMS =
  'M : i32, N : i32, K : i32, kSplit : i32, inH : i32, inW : i32, inC : i32, outH : i32, outW : i32, outC : i32, ' +
  'fH : i32, fW : i32, strideH : i32, strideW : i32, padT : i32, padL : i32, dilH : i32, dilW : i32,';

function geometryUniforms(c: backend_util.Conv2DInfo, M: number, N: number, K: number, kSplit: number) {
  return [
    { type: 'int32', data: [M, N, K, kSplit, c.inHeight, c.inWidth, c.inChannels, c.outHeight, c.outWidth, c.outChannels,
      c.filterHeight, c.filterWidth, c.strideHeight, c.strideWidth, c.padInfo.top, c.padInfo.left, c.dilationHeight, c.dilationWidth] },
  ].flatMap((u) => u.data.map((d) => ({ type: u.type, data: [d] })));
}

/**
 * A-tile loads. Thread t owns column kc = t % 16 of the BK×BM tile and rows r = t/16 + 16·j.
 * Row-dependent index parts are computed once before the K loop (prologue), the k-dependent
 * ones once per K step per thread.
 */
function aLoadSnippets(op: ConvGemmOp, tm: number): { prologue: string; step: string } {
  const rowsPerThread = tm; // BM·BK/256 = 16·tm·16/256 = tm
  if (op === 'forward' || op === 'inputGrad') {
    // Row m = (b, y, x) of the output (forward) or of the input (inputGrad).
    const rowH = op === 'forward' ? 'uniforms.outH' : 'uniforms.inH';
    const rowW = op === 'forward' ? 'uniforms.outW' : 'uniforms.inW';
    const chan = op === 'forward' ? 'uniforms.inC' : 'uniforms.outC';
    const srcH = op === 'forward' ? 'uniforms.inH' : 'uniforms.outH';
    const srcW = op === 'forward' ? 'uniforms.inW' : 'uniforms.outW';
    const prologue = `
      var rowB : array<i32, ${rowsPerThread}>;
      var rowY : array<i32, ${rowsPerThread}>;
      var rowX : array<i32, ${rowsPerThread}>;
      for (var j = 0; j < ${rowsPerThread}; j++) {
        let m = tileM + i32(localIndex / 16u) + 16 * j;
        let hw = ${rowH} * ${rowW};
        if (m < uniforms.M) {
          rowB[j] = m / hw;
          let rem = m - rowB[j] * hw;
          rowY[j] = rem / ${rowW};
          rowX[j] = rem - rowY[j] * ${rowW};
        } else {
          rowB[j] = -1;
        }
      }`;
    const kDecomp = `
        let k = k0 + kc;
        let kIn = k < kEnd;
        let fPos = k / ${chan};
        let ch = k - fPos * ${chan};
        let fy = fPos / uniforms.fW;
        let fx = fPos - fy * uniforms.fW;`;
    const src = op === 'forward' ? 'x' : 'dy';
    const coord =
      op === 'forward'
        ? `
          let sy = rowY[j] * uniforms.strideH - uniforms.padT + fy * uniforms.dilH;
          let sx = rowX[j] * uniforms.strideW - uniforms.padL + fx * uniforms.dilW;
          let ok = kIn && rowB[j] >= 0 && sy >= 0 && sy < ${srcH} && sx >= 0 && sx < ${srcW};`
        : `
          let ny = rowY[j] + uniforms.padT - fy * uniforms.dilH;
          let nx = rowX[j] + uniforms.padL - fx * uniforms.dilW;
          let sy = ny / uniforms.strideH;
          let sx = nx / uniforms.strideW;
          let ok = kIn && rowB[j] >= 0 && ny >= 0 && nx >= 0 && sy * uniforms.strideH == ny && sx * uniforms.strideW == nx &&
                   sy < ${srcH} && sx < ${srcW};`;
    const step = `${kDecomp}
        for (var j = 0; j < ${rowsPerThread}; j++) {
          ${coord}
          var v = 0.0;
          if (ok) {
            v = ${src}[((rowB[j] * ${srcH} + sy) * ${srcW} + sx) * ${chan} + ch];
          }
          As[kc * BMP + i32(localIndex / 16u) + 16 * j] = v;
        }`;
    return { prologue, step };
  }
  // filterGrad: row m = (fy, fx, ci) is fixed per thread; k = (b, oy, ox) varies.
  const prologue = `
      var rowFy : array<i32, ${rowsPerThread}>;
      var rowFx : array<i32, ${rowsPerThread}>;
      var rowC : array<i32, ${rowsPerThread}>;
      for (var j = 0; j < ${rowsPerThread}; j++) {
        let m = tileM + i32(localIndex % 16u) + 16 * j;
        if (m < uniforms.M) {
          let fPos = m / uniforms.inC;
          rowC[j] = m - fPos * uniforms.inC;
          rowFy[j] = fPos / uniforms.fW;
          rowFx[j] = fPos - rowFy[j] * uniforms.fW;
        } else {
          rowC[j] = -1;
        }
      }`;
  // Here consecutive threads take consecutive rows (= consecutive input channels in memory).
  const step = `
        let k = k0 + i32(localIndex / 16u);
        let kIn = k < kEnd;
        let ohw = uniforms.outH * uniforms.outW;
        let b = k / ohw;
        let rem = k - b * ohw;
        let oy = rem / uniforms.outW;
        let ox = rem - oy * uniforms.outW;
        for (var j = 0; j < ${rowsPerThread}; j++) {
          let sy = oy * uniforms.strideH - uniforms.padT + rowFy[j] * uniforms.dilH;
          let sx = ox * uniforms.strideW - uniforms.padL + rowFx[j] * uniforms.dilW;
          var v = 0.0;
          if (kIn && rowC[j] >= 0 && sy >= 0 && sy < uniforms.inH && sx >= 0 && sx < uniforms.inW) {
            v = x[((b * uniforms.inH + sy) * uniforms.inW + sx) * uniforms.inC + rowC[j]];
          }
          As[i32(localIndex / 16u) * BMP + i32(localIndex % 16u) + 16 * j] = v;
        }`;
  return { prologue, step };
}

/** B-tile loads (BK×BN, tn elements per thread). */
function bLoadSnippet(op: ConvGemmOp, tn: number): string {
  if (op === 'inputGrad') {
    // B(k, n) = W[fy, fx, n, co] with k = (fy, fx, co): contiguous along k, so threads run along k.
    return `
        for (var j = 0; j < ${tn}; j++) {
          let kb = i32(localIndex % 16u);
          let nb = i32(localIndex / 16u) + 16 * j;
          let k = k0 + kb;
          let n = tileN + nb;
          var v = 0.0;
          if (k < kEnd && n < uniforms.N) {
            let fPos = k / uniforms.outC;
            let co = k - fPos * uniforms.outC;
            v = W[(fPos * uniforms.inC + n) * uniforms.outC + co];
          }
          Bs[kb * BNP + nb] = v;
        }`;
  }
  // forward: B = W[k, n]; filterGrad: B = dy[k, n]; both contiguous along n.
  const src = op === 'forward' ? 'W' : 'dy';
  return `
        for (var j = 0; j < ${tn}; j++) {
          let flat = i32(localIndex) + 256 * j;
          let kb = flat / BN;
          let nb = flat - kb * BN;
          let k = k0 + kb;
          let n = tileN + nb;
          var v = 0.0;
          if (k < kEnd && n < uniforms.N) {
            v = ${src}[k * uniforms.N + n];
          }
          Bs[kb * BNP + nb] = v;
        }`;
}

export class ConvGemmProgram implements WebGPUProgram {
  variableNames: string[];
  uniforms = UNIFORMS;
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y?: number[]; z?: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [256, 1, 1];

  constructor(
    private readonly op: ConvGemmOp,
    outputShape: number[],
    M: number,
    N: number,
    private readonly tile: TileConfig,
    splits: number,
  ) {
    this.variableNames = op === 'forward' ? ['x', 'W'] : op === 'inputGrad' ? ['dy', 'W'] : ['x', 'dy'];
    this.outputShape = outputShape;
    // Non-flat layout so the framework calls main() without an index; the dispatch is ours.
    this.dispatchLayout = outputShape.length === 3 ? { x: [2], y: [1], z: [0] } : { x: [3], y: [0, 1, 2] };
    this.dispatch = [Math.ceil(N / (16 * tile.tn)), Math.ceil(M / (16 * tile.tm)), splits];
    this.shaderKey = `partsConvGemm_${op}_${tile.tm}x${tile.tn}`;
  }

  getUserCode(): string {
    const { tm, tn } = this.tile;
    const a = aLoadSnippets(this.op, tm);
    const outIndex = this.op === 'filterGrad' ? 'i32(workgroupId.z) * uniforms.M * uniforms.N + m * uniforms.N + n' : 'm * uniforms.N + n';
    return `
      const BM = ${16 * tm};
      const BN = ${16 * tn};
      const BMP = ${16 * tm + 4};
      const BNP = ${16 * tn + 4};
      var<workgroup> As : array<f32, ${BK * (16 * tm + 4)}>;
      var<workgroup> Bs : array<f32, ${BK * (16 * tn + 4)}>;
      var<workgroup> kRange : vec2<i32>;

      fn store(m : i32, n : i32, v : f32) {
        if (m < uniforms.M && n < uniforms.N) {
          result[${outIndex}] = v;
        }
      }

      ${getMainHeader()} {
        let tileN = i32(workgroupId.x) * BN;
        let tileM = i32(workgroupId.y) * BM;
        // K range of this workgroup (split-K along z; one split for forward/inputGrad).
        // workgroupId comes through a private variable, which WGSL's uniformity analysis treats
        // as non-uniform; the barriers in the K loop need a provably uniform trip count.
        if (localIndex == 0u) {
          let kb = i32(workgroupId.z) * uniforms.kSplit;
          kRange = vec2<i32>(kb, min(uniforms.K, kb + uniforms.kSplit));
        }
        let kr = workgroupUniformLoad(&kRange);
        let kBegin = kr.x;
        let kEnd = kr.y;
        let tx = i32(localIndex % 16u);
        let ty = i32(localIndex / 16u);
        let kc = i32(localIndex % 16u);
        ${a.prologue}
        ${unrolledCore(tm, tn).replace('LOAD_TILES', a.step + bLoadSnippet(this.op, tn))}
      }`;
  }
}

/**
 * The K loop with the TM×TN register tile written out (no arrays indexed in loops, so the
 * accumulators stay in registers whatever the shader compiler decides about unrolling).
 */
function unrolledCore(tm: number, tn: number): string {
  const I = [...Array(tm).keys()];
  const J = [...Array(tn).keys()];
  const decl = I.flatMap((i) => J.map((j) => `var c${i}_${j} = 0.0;`)).join(' ');
  const bLoads = J.map((j) => `let b${j} = Bs[kk * BNP + tx * ${tn} + ${j}];`).join(' ');
  const fmas = I.map((i) => `{ let a = As[kk * BMP + ty * ${tm} + ${i}]; ${J.map((j) => `c${i}_${j} = fma(a, b${j}, c${i}_${j});`).join(' ')} }`).join('\n');
  const stores = I.flatMap((i) => J.map((j) => `store(tileM + ty * ${tm} + ${i}, tileN + tx * ${tn} + ${j}, c${i}_${j});`)).join('\n');
  return `${decl}
        for (var k0 = kBegin; k0 < kEnd; k0 = k0 + ${BK}) {
          LOAD_TILES
          workgroupBarrier();
          for (var kk = 0; kk < ${BK}; kk++) {
            ${bLoads}
            ${fmas}
          }
          workgroupBarrier();
        }
        ${stores}`;
}

function getMainHeader(): string {
  return 'fn main()';
}

/** Sums the [splits, size] partial results of the split-K filter gradient. */
export class SumSplitsProgram implements WebGPUProgram {
  variableNames = ['partial'];
  uniforms = 'splits : i32, count : i32,';
  outputShape: number[];
  shaderKey = 'partsSumSplits';
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [256, 1, 1];

  constructor(outputShape: number[]) {
    this.outputShape = outputShape;
    this.dispatchLayout = { x: outputShape.map((_, i) => i) };
    const n = util.sizeFromShape(outputShape);
    this.dispatch = [Math.ceil(n / 256), 1, 1];
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.count) {
          var s = 0.0;
          for (var p = 0; p < uniforms.splits; p++) {
            s = s + partial[p * uniforms.count + index];
          }
          result[index] = s;
        }
      }`;
  }
}

export const DEFAULT_TILES: Record<ConvGemmOp, TileConfig> = {
  forward: { tm: 8, tn: 4 },
  inputGrad: { tm: 8, tn: 4 },
  filterGrad: { tm: 4, tn: 4 },
};

/** Tile overrides for A/B timing on the device: PARTS_CONV_TILES=forward:8x4,inputGrad:4x4,... */
function tilesFor(op: ConvGemmOp): TileConfig {
  const spec = process.env.PARTS_CONV_TILES;
  if (spec) {
    for (const part of spec.split(',')) {
      const [name, t] = part.split(':');
      const [tm, tn] = (t ?? '').split('x').map(Number);
      if (name === op && (tm === 4 || tm === 8) && (tn === 2 || tn === 4)) return { tm, tn };
    }
  }
  return DEFAULT_TILES[op];
}

/** Number of K splits for the filter gradient: enough workgroups to fill a big GPU (≥ ~1k). */
export function chooseSplits(M: number, N: number, K: number, tile: TileConfig): { splits: number; kSplit: number } {
  const tiles = Math.ceil(M / (16 * tile.tm)) * Math.ceil(N / (16 * tile.tn));
  const minChunk = 256; // keep each workgroup's loop long enough to amortise its prologue
  let splits = Math.max(1, Math.min(Math.ceil(1024 / tiles), Math.floor(K / minChunk), 65535));
  let kSplit = Math.ceil(K / splits / BK) * BK;
  splits = Math.ceil(K / kSplit);
  return { splits, kSplit };
}

export function runConvGemm(
  backend: WebGPUBackend,
  op: ConvGemmOp,
  convInfo: backend_util.Conv2DInfo,
  inputs: [TensorInfo, TensorInfo],
): TensorInfo {
  const c = convInfo;
  const tile = tilesFor(op);
  if (op === 'forward') {
    const M = c.batchSize * c.outHeight * c.outWidth;
    const N = c.outChannels;
    const K = c.filterHeight * c.filterWidth * c.inChannels;
    const prog = new ConvGemmProgram(op, [c.batchSize, c.outHeight, c.outWidth, c.outChannels], M, N, tile, 1);
    return backend.runWebGPUProgram(prog, inputs, 'float32', geometryUniforms(c, M, N, K, K) as never);
  }
  if (op === 'inputGrad') {
    const M = c.batchSize * c.inHeight * c.inWidth;
    const N = c.inChannels;
    const K = c.filterHeight * c.filterWidth * c.outChannels;
    const prog = new ConvGemmProgram(op, [c.batchSize, c.inHeight, c.inWidth, c.inChannels], M, N, tile, 1);
    return backend.runWebGPUProgram(prog, inputs, 'float32', geometryUniforms(c, M, N, K, K) as never);
  }
  const M = c.filterHeight * c.filterWidth * c.inChannels;
  const N = c.outChannels;
  const K = c.batchSize * c.outHeight * c.outWidth;
  const { splits, kSplit } = chooseSplits(M, N, K, tile);
  const prog = new ConvGemmProgram(op, [splits, M, N], M, N, tile, splits);
  const partial = backend.runWebGPUProgram(prog, inputs, 'float32', geometryUniforms(c, M, N, K, kSplit) as never);
  const filterShape = [c.filterHeight, c.filterWidth, c.inChannels, c.outChannels];
  const out = backend.runWebGPUProgram(new SumSplitsProgram(filterShape), [partial], 'float32', [
    { type: 'int32', data: [splits] },
    { type: 'int32', data: [M * N] },
  ] as never);
  backend.disposeData(partial.dataId);
  return out;
}
