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
// The same machinery serves a plain split-K matrix product (op 'matmul', a dense layer's forward
// pass) and, for the forward convolution, an epilogue (bias, activation) applied before the store.
//
// Tiling: 256 threads (16×16), tile BM×BN = 16·TM × 16·TN, BK = 16, tiles in workgroup memory,
// each thread accumulates TM×TN outputs in registers. Loads are laid out so consecutive threads
// read consecutive addresses of the gathered operand (channels are innermost in NHWC). Two inner
// loops ('scalar', 'vec4') and an optional register prefetch of the next K tile are selectable per
// call (kernel-choice.ts): the autotuner times them per shape on the GPU at hand.
import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { MAX_WORKGROUPS_PER_DIM } from './device-limits';
import { ACTIVATION_WGSL, type Epilogue } from './epilogue';
import { splitReduction, sumSplits } from './split-k';
import { channelsOf, runWinograd, winogradApplies } from './winograd';
import { runWinogradFilterGrad } from './winograd-filter-grad';
import { chooseKernel, convFlops, convShapeKey, matmulShapeKey, type ConvKernelChoice } from './kernel-choice';

/** The three convolution GEMMs, and a plain split-K matrix product (a dense layer: small M·N, huge K). */
export type ConvGemmOp = 'forward' | 'inputGrad' | 'filterGrad' | 'matmul';

export interface TileConfig {
  /** Rows per thread (tile height BM = 16·tm); 4 or 8. */
  tm: 4 | 8;
  /** Columns per thread (tile width BN = 16·tn); 2 or 4 (scalar core), 4 or 8 (vec4 core). */
  tn: 2 | 4 | 8;
}

const BK = 16;

/** Geometry uniforms shared by the three ops (all i32). */
const UNIFORMS =
  'M : i32, N : i32, K : i32, kSplit : i32, inH : i32, inW : i32, inC : i32, outH : i32, outW : i32, outC : i32, ' +
  'fH : i32, fW : i32, strideH : i32, strideW : i32, padT : i32, padL : i32, dilH : i32, dilW : i32, alpha : f32, yTiles : i32,';

function geometryUniforms(c: backend_util.Conv2DInfo, M: number, N: number, K: number, kSplit: number) {
  return [
    { type: 'int32', data: [M, N, K, kSplit, c.inHeight, c.inWidth, c.inChannels, c.outHeight, c.outWidth, c.outChannels,
      c.filterHeight, c.filterWidth, c.strideHeight, c.strideWidth, c.padInfo.top, c.padInfo.left, c.dilationHeight, c.dilationWidth] },
  ].flatMap((u) => u.data.map((d) => ({ type: u.type, data: [d] })));
}

/** Loads of one operand tile: registers declared once, filled for the tile at K offset `kt`, then stored to workgroup memory. */
interface TileLoad {
  prologue: string;
  load: (kt: string) => string;
  store: string;
}

const LANES = ['x', 'y', 'z', 'w'];
const range = (n: number) => [...Array(n).keys()];

/**
 * A-tile loads. Every thread writes whole quads of four consecutive rows (a thread writing one
 * component of a vec4 that others also write would be a data race in WGSL). Gathers (forward,
 * input gradient, matmul): thread t owns column kc = t % 16 of the BK×BM tile and the row quads
 * t/16 + 16·j, so consecutive threads read consecutive channels of one pixel. Filter gradient:
 * thread t owns K row t/16 and the row quads t % 16 + 16·j (consecutive input channels).
 * Row-dependent index parts are computed once before the K loop (prologue), the k-dependent
 * ones once per K step per thread. All loops over a thread's rows are unrolled here, so the
 * per-row index arrays are only ever indexed by constants (registers, not local memory).
 */
function aTileLoad(op: ConvGemmOp, tm: number, unitStride = false): TileLoad {
  const quads = range(tm / 4); // BM·BK / 256 / 4 row quads per thread
  const regs = quads.map((j) => `var va${j} = vec4<f32>(0.0);`).join(' ');
  if (op === 'matmul') {
    // A[M, K] row-major: threads run along k (coalesced), like the gathers below.
    const load = (kt: string) => `{
        let k = ${kt} + kc;
        let kIn = k < kEnd;
        ${quads.map((j) => `va${j} = vec4<f32>(0.0);
${range(4).map((i) => `
        if (kIn && tileM + ${16 * j * 4 + i} + 4 * ty < uniforms.M) {
          va${j}.${LANES[i]} = A[(tileM + ${16 * j * 4 + i} + 4 * ty) * uniforms.K + k];
        }`).join('')}`).join('\n')}
      }`;
    return { prologue: regs, load, store: quads.map((j) => `setA4(kc, ty + ${16 * j}, va${j});`).join(' ') };
  }
  if (op === 'forward' || op === 'inputGrad') {
    // Row m = (b, y, x) of the output (forward) or of the input (inputGrad).
    const rowH = op === 'forward' ? 'uniforms.outH' : 'uniforms.inH';
    const rowW = op === 'forward' ? 'uniforms.outW' : 'uniforms.inW';
    const chan = op === 'forward' ? 'uniforms.inC' : 'uniforms.outC';
    const srcH = op === 'forward' ? 'uniforms.inH' : 'uniforms.outH';
    const srcW = op === 'forward' ? 'uniforms.inW' : 'uniforms.outW';
    const src = op === 'forward' ? 'x' : 'dy';
    const rows = range(tm); // row r = lane r % 4 of quad r / 4
    const prologue = `${regs}
      var rowB : array<i32, ${tm}>;
      var rowY : array<i32, ${tm}>;
      var rowX : array<i32, ${tm}>;
      let hw = ${rowH} * ${rowW};
      ${rows
        .map(
          (r) => `{
        let m = tileM + 4 * (ty + ${16 * Math.floor(r / 4)}) + ${r % 4};
        rowB[${r}] = -1;
        if (m < uniforms.M) {
          rowB[${r}] = m / hw;
          let rem = m - rowB[${r}] * hw;
          rowY[${r}] = rem / ${rowW};
          rowX[${r}] = rem - rowY[${r}] * ${rowW};
        }
      }`,
        )
        .join('\n')}`;
    const coord = (r: number) =>
      op === 'forward'
        ? `
          let sy = rowY[${r}] * uniforms.strideH - uniforms.padT + fy * uniforms.dilH;
          let sx = rowX[${r}] * uniforms.strideW - uniforms.padL + fx * uniforms.dilW;
          let ok = kIn && rowB[${r}] >= 0 && sy >= 0 && sy < ${srcH} && sx >= 0 && sx < ${srcW};`
        : unitStride
          ? // Stride 1 (most layers): no integer divisions, which cost ~20 instructions each on a GPU, per row and K step.
            `
          let sy = rowY[${r}] + uniforms.padT - fy * uniforms.dilH;
          let sx = rowX[${r}] + uniforms.padL - fx * uniforms.dilW;
          let ok = kIn && rowB[${r}] >= 0 && sy >= 0 && sx >= 0 && sy < ${srcH} && sx < ${srcW};`
          : `
          let ny = rowY[${r}] + uniforms.padT - fy * uniforms.dilH;
          let nx = rowX[${r}] + uniforms.padL - fx * uniforms.dilW;
          let sy = ny / uniforms.strideH;
          let sx = nx / uniforms.strideW;
          let ok = kIn && rowB[${r}] >= 0 && ny >= 0 && nx >= 0 && sy * uniforms.strideH == ny && sx * uniforms.strideW == nx &&
                   sy < ${srcH} && sx < ${srcW};`;
    const load = (kt: string) => `{
        let k = ${kt} + kc;
        let kIn = k < kEnd;
        let fPos = k / ${chan};
        let ch = k - fPos * ${chan};
        let fy = fPos / uniforms.fW;
        let fx = fPos - fy * uniforms.fW;
        ${quads.map((j) => `va${j} = vec4<f32>(0.0);`).join(' ')}
        ${rows
          .map(
            (r) => `{${coord(r)}
          if (ok) {
            va${Math.floor(r / 4)}.${LANES[r % 4]} = ${src}[((rowB[${r}] * ${srcH} + sy) * ${srcW} + sx) * ${chan} + ch];
          }
        }`,
          )
          .join('\n')}
      }`;
    return { prologue, load, store: quads.map((j) => `setA4(kc, ty + ${16 * j}, va${j});`).join(' ') };
  }
  // filterGrad: row m = (fy, fx, ci) is fixed per thread; k = (b, oy, ox) varies.
  const rows = range(tm);
  const prologue = `${regs}
      var rowFy : array<i32, ${tm}>;
      var rowFx : array<i32, ${tm}>;
      var rowC : array<i32, ${tm}>;
      ${rows
        .map(
          (r) => `{
        let m = tileM + 4 * (tx + ${16 * Math.floor(r / 4)}) + ${r % 4};
        rowC[${r}] = -1;
        if (m < uniforms.M) {
          let fPos = m / uniforms.inC;
          rowC[${r}] = m - fPos * uniforms.inC;
          rowFy[${r}] = fPos / uniforms.fW;
          rowFx[${r}] = fPos - rowFy[${r}] * uniforms.fW;
        }
      }`,
        )
        .join('\n')}`;
  const load = (kt: string) => `{
        let k = ${kt} + ty;
        let kIn = k < kEnd;
        let ohw = uniforms.outH * uniforms.outW;
        let b = k / ohw;
        let rem = k - b * ohw;
        let oy = rem / uniforms.outW;
        let ox = rem - oy * uniforms.outW;
        ${quads.map((j) => `va${j} = vec4<f32>(0.0);`).join(' ')}
        ${rows
          .map(
            (r) => `{
          let sy = oy * uniforms.strideH - uniforms.padT + rowFy[${r}] * uniforms.dilH;
          let sx = ox * uniforms.strideW - uniforms.padL + rowFx[${r}] * uniforms.dilW;
          if (kIn && rowC[${r}] >= 0 && sy >= 0 && sy < uniforms.inH && sx >= 0 && sx < uniforms.inW) {
            va${Math.floor(r / 4)}.${LANES[r % 4]} = x[((b * uniforms.inH + sy) * uniforms.inW + sx) * uniforms.inC + rowC[${r}]];
          }
        }`,
          )
          .join('\n')}
      }`;
  return { prologue, load, store: quads.map((j) => `setA4(ty, tx + ${16 * j}, va${j});`).join(' ') };
}

/** B-tile loads (BK×BN), whole column quads per thread (see aTileLoad). */
function bTileLoad(op: ConvGemmOp, tn: number): TileLoad {
  const quadsPerRow = 4 * tn; // BN / 4
  if (op === 'inputGrad') {
    // B(k, n) = W[fy, fx, n, co] with k = (fy, fx, co): contiguous along k, so threads run along k.
    // Thread (tx, ty) loads K row tx, column quads ty + 16·j (the quads that exist: BN/4 may be < 16).
    const qs = range(Math.ceil(tn / 4));
    const load = (kt: string) => `{
        let k = ${kt} + tx;
        let fPos = k / uniforms.outC;
        let co = k - fPos * uniforms.outC;
        ${qs
          .map(
            (j) => `vb${j} = vec4<f32>(0.0);
        if (k < kEnd) {${range(4)
          .map(
            (i) => `
          if (tileN + 4 * (ty + ${16 * j}) + ${i} < uniforms.N) {
            vb${j}.${LANES[i]} = W[(fPos * uniforms.inC + tileN + 4 * (ty + ${16 * j}) + ${i}) * uniforms.outC + co];
          }`,
          )
          .join('')}
        }`,
          )
          .join('\n')}
      }`;
    return {
      prologue: qs.map((j) => `var vb${j} = vec4<f32>(0.0);`).join(' '),
      load,
      store: qs.map((j) => `if (ty + ${16 * j} < ${quadsPerRow}) { setB4(tx, ty + ${16 * j}, vb${j}); }`).join('\n'),
    };
  }
  // forward: B = W[k, n]; filterGrad: B = dy[k, n]; matmul: B[k, n]; all contiguous along n.
  // Quad f = t + 256·j of the tile is row f / (BN/4), column quad f % (BN/4).
  const src = op === 'forward' ? 'W' : op === 'matmul' ? 'B' : 'dy';
  const qs = range(Math.ceil((BK * quadsPerRow) / 256));
  const flat = (j: number) => `(i32(localIndex) + ${256 * j})`;
  const load = (kt: string) => `{
        ${qs
          .map(
            (j) => `{
          let kb = ${flat(j)} / ${quadsPerRow};
          let k = ${kt} + kb;
          let n0 = tileN + 4 * (${flat(j)} - kb * ${quadsPerRow});
          vb${j} = vec4<f32>(0.0);
          if (k < kEnd && ${flat(j)} < ${BK * quadsPerRow}) {${range(4)
            .map(
              (i) => `
            if (n0 + ${i} < uniforms.N) {
              vb${j}.${LANES[i]} = ${src}[k * uniforms.N + n0 + ${i}];
            }`,
            )
            .join('')}
          }
        }`,
          )
          .join('\n')}
      }`;
  return {
    prologue: qs.map((j) => `var vb${j} = vec4<f32>(0.0);`).join(' '),
    load,
    store: qs
      .map((j) => `if (${flat(j)} < ${BK * quadsPerRow}) { setB4(${flat(j)} / ${quadsPerRow}, ${flat(j)} % ${quadsPerRow}, vb${j}); }`)
      .join('\n'),
  };
}

export interface ConvGemmSpec {
  op: ConvGemmOp;
  outputShape: number[];
  M: number;
  N: number;
  tile: TileConfig;
  /** K splits (filter gradient); 1 otherwise. */
  splits: number;
  /** Inner loop: 'scalar' reads one float per shared-memory load, 'vec4' four (fewer load instructions per FMA). */
  core: ConvCore;
  /**
   * Load the next K tile's operands into registers while the current one is multiplied
   * (global-load latency hidden behind the FMAs; the tile is written to workgroup memory after
   * the barrier). Costs the registers of one tile's loads.
   */
  prefetch?: boolean;
  epilogue?: Epilogue;
  /** Input gradient of a stride-1 convolution: the gather needs no divisions (a shader of its own). */
  unitStride?: boolean;
}

export type ConvCore = 'scalar' | 'vec4';

export class ConvGemmProgram implements WebGPUProgram {
  variableNames: string[];
  uniforms = UNIFORMS;
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y?: number[]; z?: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [256, 1, 1];
  /** Row tiles along y (the rest continue along z); passed as the yTiles uniform. */
  readonly yTiles: number;
  private readonly spec: ConvGemmSpec;

  constructor(spec: ConvGemmSpec) {
    const { op, tile, M, N, splits, core, epilogue } = spec;
    if (core === 'vec4' && tile.tn === 2) throw new Error('ConvGemmProgram: the vec4 core needs tn 4 or 8');
    if (core === 'scalar' && tile.tn === 8) throw new Error('ConvGemmProgram: the scalar core takes tn 2 or 4');
    if (epilogue && op !== 'forward') throw new Error('ConvGemmProgram: an epilogue only applies to the forward convolution');
    this.spec = spec;
    this.variableNames = { forward: ['x', 'W', ...(epilogue?.bias ? ['bias'] : [])], inputGrad: ['dy', 'W'], filterGrad: ['x', 'dy'], matmul: ['A', 'B'] }[op];
    this.outputShape = spec.outputShape;
    // Non-flat layout so the framework calls main() without an index; the dispatch is ours.
    this.dispatchLayout = this.outputShape.length === 3 ? { x: [2], y: [1], z: [0] } : { x: [3], y: [0, 1, 2] };
    // Row tiles beyond the per-dimension limit (forward/inputGrad of big batches: 32·254·254 rows
    // are 16k tiles of 128) continue along z, which only split-K ops use otherwise.
    const mTiles = Math.ceil(M / (16 * tile.tm));
    const splitK = op === 'filterGrad' || op === 'matmul';
    if (splitK && mTiles > MAX_WORKGROUPS_PER_DIM) throw new Error(`ConvGemmProgram: ${mTiles} row tiles exceed the dispatch limit`);
    const zRows = splitK ? 1 : Math.ceil(mTiles / MAX_WORKGROUPS_PER_DIM);
    this.yTiles = Math.ceil(mTiles / zRows);
    this.dispatch = [Math.ceil(N / (16 * tile.tn)), this.yTiles, splitK ? splits : zRows];
    const epi = epilogue ? `_${epilogue.bias ? 'b' : ''}${epilogue.activation}` : '';
    if (spec.unitStride && op !== 'inputGrad') throw new Error('ConvGemmProgram: unitStride is for the input gradient');
    this.shaderKey = `partsConvGemm_${op}_${core}${spec.prefetch ? 'p' : ''}_${tile.tm}x${tile.tn}${epi}${spec.unitStride ? '_s1' : ''}`;
  }

  getUserCode(): string {
    const { op, tile, epilogue, core } = this.spec;
    const { tm, tn } = tile;
    const a = aTileLoad(op, tm, Boolean(this.spec.unitStride));
    const b = bTileLoad(op, tn);
    const splitK = op === 'filterGrad' || op === 'matmul';
    const outIndex = splitK ? 'i32(workgroupId.z) * uniforms.M * uniforms.N + m * uniforms.N + n' : 'm * uniforms.N + n';
    const epilogueCode = epilogue ? `${epilogue.bias ? 'r = r + bias[n];' : ''} ${ACTIVATION_WGSL[epilogue.activation]}` : '';
    const c = core === 'vec4' ? vec4Core(tm, tn) : scalarCore(tm, tn);
    return `
      const BM = ${16 * tm};
      const BN = ${16 * tn};
      ${c.decls}
      var<workgroup> kRange : vec2<i32>;

      fn store(m : i32, n : i32, v : f32) {
        if (m < uniforms.M && n < uniforms.N) {
          var r = v;
          ${epilogueCode}
          result[${outIndex}] = r;
        }
      }

      ${getMainHeader()} {
        let tileN = i32(workgroupId.x) * BN;
        let tileM = ${splitK ? 'i32(workgroupId.y)' : '(i32(workgroupId.y) + i32(workgroupId.z) * uniforms.yTiles)'} * BM;
        // K range of this workgroup (split-K along z; one split for forward/inputGrad).
        // workgroupId comes through a private variable, which WGSL's uniformity analysis treats
        // as non-uniform; the barriers in the K loop need a provably uniform trip count.
        if (localIndex == 0u) {
          let kb = ${splitK ? 'i32(workgroupId.z) * uniforms.kSplit' : '0'};
          kRange = vec2<i32>(kb, min(uniforms.K, kb + uniforms.kSplit));
        }
        let kr = workgroupUniformLoad(&kRange);
        let kBegin = kr.x;
        let kEnd = kr.y;
        let tx = i32(localIndex % 16u);
        let ty = i32(localIndex / 16u);
        let kc = i32(localIndex % 16u);
        ${a.prologue}
        ${b.prologue}
        ${c.accumulators}
        ${kLoop(a, b, c.inner, Boolean(this.spec.prefetch))}
        ${c.stores}
      }`;
  }
}

/**
 * Scalar core: tiles as f32 arrays, thread (tx, ty) owns rows ty·TM.. and columns tx·TN..; the
 * TM×TN register tile is written out (no arrays indexed in loops, so the accumulators stay in
 * registers whatever the shader compiler decides about unrolling). TM + TN shared loads per
 * TM·TN FMAs. Measured on the H200 (call 1): 9-12 TFLOP/s on Tiny VGG's layers.
 */
function scalarCore(tm: number, tn: number): Core {
  const I = [...Array(tm).keys()];
  const J = [...Array(tn).keys()];
  const decls = `
      const BMP = ${16 * tm + 4};
      const BNP = ${16 * tn + 4};
      var<workgroup> As : array<f32, ${BK * (16 * tm + 4)}>;
      var<workgroup> Bs : array<f32, ${BK * (16 * tn + 4)}>;
      fn setA4(kb : i32, q : i32, v : vec4<f32>) {
        let i = kb * BMP + 4 * q;
        As[i] = v.x; As[i + 1] = v.y; As[i + 2] = v.z; As[i + 3] = v.w;
      }
      fn setB4(kb : i32, q : i32, v : vec4<f32>) {
        let i = kb * BNP + 4 * q;
        Bs[i] = v.x; Bs[i + 1] = v.y; Bs[i + 2] = v.z; Bs[i + 3] = v.w;
      }`;
  const decl = I.flatMap((i) => J.map((j) => `var c${i}_${j} = 0.0;`)).join(' ');
  const bLoads = J.map((j) => `let b${j} = Bs[kk * BNP + tx * ${tn} + ${j}];`).join(' ');
  const fmas = I.map((i) => `{ let a = As[kk * BMP + ty * ${tm} + ${i}]; ${J.map((j) => `c${i}_${j} = fma(a, b${j}, c${i}_${j});`).join(' ')} }`).join('\n');
  const stores = I.flatMap((i) => J.map((j) => `store(tileM + ty * ${tm} + ${i}, tileN + tx * ${tn} + ${j}, c${i}_${j});`)).join('\n');
  return { decls, accumulators: decl, inner: `${bLoads}\n${fmas}`, stores };
}

/**
 * vec4 core: tiles as vec4<f32> arrays read four floats per load. Thread (tx, ty) owns the row
 * quads ty, ty+16 (TM = 8) and the column quads tx, tx+16 (TN = 8): per K step TM/4 + TN/4
 * shared loads feed TM·TN FMAs (3 loads per 32 FMAs at 8×4, vs 12 in the scalar core). Within a
 * warp the A reads are broadcasts and the B reads consecutive quads (no bank conflicts); the one-
 * quad row padding keeps the column-wise tile stores of the gathers from hitting one bank.
 */
function vec4Core(tm: number, tn: number): Core {
  const rowQuads = tm / 4;
  const colQuads = tn / 4;
  const ASTR = 4 * tm + 1; // BM/4 + 1 quads per K row
  const BSTR = 4 * tn + 1;
  const decls = `
      const ASTR = ${ASTR};
      const BSTR = ${BSTR};
      var<workgroup> As : array<vec4<f32>, ${BK * ASTR}>;
      var<workgroup> Bs : array<vec4<f32>, ${BK * BSTR}>;
      fn setA4(kb : i32, q : i32, v : vec4<f32>) { As[kb * ASTR + q] = v; }
      fn setB4(kb : i32, q : i32, v : vec4<f32>) { Bs[kb * BSTR + q] = v; }`;
  const P = [...Array(rowQuads).keys()];
  const Q = [...Array(colQuads).keys()];
  const comps = ['x', 'y', 'z', 'w'];
  const acc = (p: number, i: number, q: number) => `c${p * 4 + i}_${q}`;
  const decl = P.flatMap((p) => [0, 1, 2, 3].flatMap((i) => Q.map((q) => `var ${acc(p, i, q)} = vec4<f32>(0.0);`))).join(' ');
  const loads = [...P.map((p) => `let a${p} = As[kk * ASTR + ty + ${16 * p}];`), ...Q.map((q) => `let b${q} = Bs[kk * BSTR + tx + ${16 * q}];`)].join(' ');
  const fmas = P.flatMap((p) => [0, 1, 2, 3].map((i) => Q.map((q) => `${acc(p, i, q)} = fma(vec4<f32>(a${p}.${comps[i]}), b${q}, ${acc(p, i, q)});`).join(' '))).join('\n');
  const stores = P.flatMap((p) =>
    [0, 1, 2, 3].flatMap((i) =>
      Q.flatMap((q) => comps.map((cc, j) => `store(tileM + 4 * (ty + ${16 * p}) + ${i}, tileN + 4 * (tx + ${16 * q}) + ${j}, ${acc(p, i, q)}.${cc});`)),
    ),
  ).join('\n');
  return { decls, accumulators: decl, inner: `${loads}\n${fmas}`, stores };
}

/** Workgroup memory of a variant's two tiles (a device may allow less than the largest variant needs). */
export function workgroupStorageBytes(tile: TileConfig, core: ConvCore): number {
  return core === 'vec4' ? 16 * BK * (4 * tile.tm + 1 + 4 * tile.tn + 1) : 4 * BK * (16 * tile.tm + 4 + 16 * tile.tn + 4);
}

/** A core: workgroup tiles and their setters, the register tile, one K step's FMAs, the stores. */
interface Core {
  decls: string;
  accumulators: string;
  inner: string;
  stores: string;
}

/** The K loop: load the tiles, store them to workgroup memory, multiply (optionally prefetching the next tile). */
function kLoop(a: TileLoad, b: TileLoad, inner: string, prefetch: boolean): string {
  const multiply = `
          for (var kk = 0; kk < ${BK}; kk++) {
            ${inner}
          }`;
  if (!prefetch) {
    return `
        for (var k0 = kBegin; k0 < kEnd; k0 = k0 + ${BK}) {
          ${a.load('k0')}
          ${b.load('k0')}
          ${a.store}
          ${b.store}
          workgroupBarrier();
          ${multiply}
          workgroupBarrier();
        }`;
  }
  return `
        ${a.load('kBegin')}
        ${b.load('kBegin')}
        for (var k0 = kBegin; k0 < kEnd; k0 = k0 + ${BK}) {
          ${a.store}
          ${b.store}
          workgroupBarrier();
          ${a.load(`(k0 + ${BK})`)}
          ${b.load(`(k0 + ${BK})`)}
          ${multiply}
          workgroupBarrier();
        }`;
}

function getMainHeader(): string {
  return 'fn main()';
}

/** Number of K splits for the filter gradient: enough workgroups to fill a big GPU (≥ ~1k). */
export function chooseSplits(M: number, N: number, K: number, tile: TileConfig): { splits: number; kSplit: number } {
  const tiles = Math.ceil(M / (16 * tile.tm)) * Math.ceil(N / (16 * tile.tn));
  const { chunks, chunkLength } = splitReduction(K, tiles, 1024, 256, BK);
  return { splits: chunks, kSplit: chunkLength };
}

/**
 * One convolution op as an implicit GEMM. inputs: forward [x, W] (+ bias with a bias epilogue),
 * inputGrad [dy, W], filterGrad [x, dy].
 */
export function runConvGemm(
  backend: WebGPUBackend,
  op: ConvGemmOp,
  convInfo: backend_util.Conv2DInfo,
  inputs: TensorInfo[],
  epilogue?: Epilogue,
  choice?: ConvKernelChoice,
): TensorInfo {
  const c = convInfo;
  const key = choice ? '' : convShapeKey(op, c);
  const chosen = choice ?? chooseKernel(op, key, () => ({ key, op, conv: c, flops: convFlops(c) }), undefined, backend.device.limits);
  if (chosen.winograd && winogradApplies(c)) {
    if (op === 'forward' || op === 'inputGrad') return runWinograd(backend, op, c, inputs, chosen.winograd, epilogue);
    if (op === 'filterGrad') return runWinogradFilterGrad(backend, c, inputs[0], inputs[1], Math.min(64, channelsOf(chosen.winograd)), Boolean(chosen.winograd.prefetch));
  }
  const { tile, core, prefetch } = chosen;
  const alpha = { type: 'float32', data: [epilogue?.alpha ?? 0] };
  const run = (outputShape: number[], M: number, N: number, K: number, splits: number, kSplit: number) => {
    const unitStride = op === 'inputGrad' && c.strideHeight === 1 && c.strideWidth === 1;
    const prog = new ConvGemmProgram({ op, outputShape, M, N, tile, splits, core, prefetch, epilogue, unitStride });
    return backend.runWebGPUProgram(prog, inputs, 'float32', [...geometryUniforms(c, M, N, K, kSplit), alpha, { type: 'int32', data: [prog.yTiles] }] as never);
  };
  if (op === 'forward') {
    const M = c.batchSize * c.outHeight * c.outWidth;
    const K = c.filterHeight * c.filterWidth * c.inChannels;
    return run([c.batchSize, c.outHeight, c.outWidth, c.outChannels], M, c.outChannels, K, 1, K);
  }
  if (op === 'inputGrad') {
    const M = c.batchSize * c.inHeight * c.inWidth;
    const K = c.filterHeight * c.filterWidth * c.outChannels;
    return run([c.batchSize, c.inHeight, c.inWidth, c.inChannels], M, c.inChannels, K, 1, K);
  }
  const M = c.filterHeight * c.filterWidth * c.inChannels;
  const N = c.outChannels;
  const K = c.batchSize * c.outHeight * c.outWidth;
  const { splits, kSplit } = chooseSplits(M, N, K, tile);
  const partial = run([splits, M, N], M, N, K, splits, kSplit);
  const out = sumSplits(backend, partial, splits, [c.filterHeight, c.filterWidth, c.inChannels, c.outChannels]);
  backend.disposeData(partial.dataId);
  return out;
}

/**
 * C[M, N] = A[M, K] · B[K, N] split along K (a dense layer's forward pass: M = batch, N = units,
 * K = flattened features), then the partial products are added with the epilogue (bias, activation).
 */
export function runSplitKMatMul(backend: WebGPUBackend, a: TensorInfo, b: TensorInfo, M: number, K: number, N: number, outShape: number[],
  epilogue?: Epilogue, bias?: TensorInfo, choice?: ConvKernelChoice): TensorInfo {
  const key = choice ? '' : matmulShapeKey(M, K, N);
  const { tile, core, prefetch } = choice ?? chooseKernel('matmul', key, () => ({ key, op: 'matmul', matmul: { M, K, N }, flops: 2 * M * K * N }));
  const { splits, kSplit } = chooseSplits(M, N, K, tile);
  const geometry = [M, N, K, kSplit, ...Array(14).fill(0)].map((d) => ({ type: 'int32', data: [d] }));
  const prog = new ConvGemmProgram({ op: 'matmul', outputShape: [splits, M, N], M, N, tile, splits, core, prefetch });
  const partial = backend.runWebGPUProgram(prog, [a, b], 'float32', [...geometry, { type: 'float32', data: [0] }, { type: 'int32', data: [prog.yTiles] }] as never);
  const out = sumSplits(backend, partial, splits, outShape, 1, epilogue, bias);
  backend.disposeData(partial.dataId);
  return out;
}
