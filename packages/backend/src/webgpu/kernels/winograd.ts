// 3×3 stride-1 convolutions on WebGPU by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray 2015),
// for the forward pass and the input gradient (a 3×3 stride-1 convolution of dy with the flipped,
// transposed filter). Why: these layers are arithmetic-bound GEMMs on the GPU (Tiny VGG's conv2 is
// 91 GFLOP per batch of 32 at 256 px), and F(2×2, 3×3) needs 16 multiplications per 2×2 output tile
// and channel pair instead of 36: 2.25× fewer FLOPs, which is how cuDNN runs such layers.
//
// Per 2×2 output tile and input channel c the 4×4 input patch d becomes V = Bᵀ d B, each filter
// slice g (3×3) becomes U = G g Gᵀ (once per call, WinogradFilterProgram), and for each of the 16
// positions ξ of the 4×4 transformed tile, M_ξ[tile, n] = Σ_c V_ξ[tile, c] · U_ξ[c, n]: 16 GEMMs of
// K = input channels. The output tile is Aᵀ M A. All of it happens in one program (the transformed
// input never goes through memory: at 256 px it would be 1.6 GB per layer):
//   - a workgroup owns TT consecutive tiles × BN output channels (TT·BN ≤ 1024), all 16 ξ;
//   - per K step of BK channels, TT·BK threads each load one 4×4 patch, transform it and write its
//     16 values to workgroup memory; all threads load the matching U slice (vec4, zero-padded, so
//     no bounds checks);
//   - each ξ has TT·BN/64 threads, each computing 8 tiles × 8 channels (16 vec4 accumulators);
//   - after the K loop the accumulators go through workgroup memory in four passes (4 tiles × 4
//     channels of every thread's block each), and each thread transforms one (tile, channel) pair's 16 values into its 2×2 outputs
//     (plus the forward pass's bias and activation).
// Numerically F(2×2, 3×3) is benign in float32 (transform entries 0, ±½, ±1): errors stay at the
// direct GEMM's level (checked against cpu in the numeric check and the tests).
import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { FlatProgram } from './flat-program';
import { exceedsLimits, MAX_WORKGROUPS_PER_DIM, type ComputeLimits } from './device-limits';
import { ACTIVATION_WGSL, type Epilogue } from './epilogue';

/**
 * A Winograd variant: `tiles` 2×2 output tiles per workgroup, `bk` input channels per K step,
 * `channels` output channels per workgroup (BN; default 1024 / tiles, i.e. 256 threads; 56 with 16
 * tiles — 224 threads — wastes less of a 50-channel layer than 64).
 */
export interface WinogradConfig {
  tiles: 16 | 32;
  bk: 4 | 8;
  channels?: number;
  /** Load the next K step's patch and filter slice into registers while the current one is multiplied. */
  prefetch?: boolean;
}

export type WinogradOp = 'forward' | 'inputGrad';

/** Channel padding of the transformed filter: a multiple of every BK (and of the variant's BN), so its loads need no bounds checks. */
const C_ALIGN = 8;
const roundUp = (v: number, m: number) => Math.ceil(v / m) * m;

/** Refuses configurations the program cannot build, with the reason. */
export function checkWinogradConfig(w: WinogradConfig): void {
  const bn = channelsOf(w);
  if (!(w.tiles === 16 || w.tiles === 32) || !(w.bk === 4 || w.bk === 8)) throw new Error(`Winograd: tiles must be 16 or 32 and bk 4 or 8, got ${w.tiles}x${w.bk}`);
  if (!Number.isInteger(bn) || bn % 8 !== 0 || winogradInvocations(w) > 1024 || w.tiles * w.bk > winogradInvocations(w)) {
    throw new Error(`Winograd: ${bn} channels per workgroup with ${w.tiles} tiles needs a multiple of 8, tiles·channels ≤ 4096 (1024 threads) and tiles·channels ≥ 8·tiles·bk (a thread per patch)`);
  }
}

/** Whether F(2×2, 3×3) computes this convolution: a 3×3 filter, stride 1, no dilation (any padding). */
export function winogradApplies(c: backend_util.Conv2DInfo): boolean {
  return c.filterHeight === 3 && c.filterWidth === 3 && c.strideHeight === 1 && c.strideWidth === 1 && c.dilationHeight === 1 && c.dilationWidth === 1;
}

/** Workgroup memory of a variant: V and the U tile, or the output stage where that is larger (see layout). */
export function winogradStorageBytes(w: WinogradConfig): number {
  // (+16: the uniform channel count shared through workgroup memory, as Dawn rounds it)
  return 16 * layout(w).size + 16;
}

/** Invocations per workgroup: 16 ξ × threads per ξ (a device may allow fewer than the largest variant has). */
export function winogradInvocations(w: WinogradConfig): number {
  return 16 * threadsPerXi(w);
}

/** Why the device cannot run this variant (workgroup memory, invocations), or null where it can. */
export function winogradUnfit(w: WinogradConfig, limits: ComputeLimits): string | null {
  return exceedsLimits(winogradStorageBytes(w), winogradInvocations(w), limits);
}

/** Output channels per workgroup (BN). */
export function channelsOf(w: WinogradConfig): number {
  return w.channels ?? defaultChannels(w.tiles);
}

/** BN when a variant names none: 256 threads. */
export function defaultChannels(tiles: number): number {
  return 1024 / tiles;
}

/** Threads per ξ (each 8 tiles × 8 channels); the workgroup has 16 times as many. */
const threadsPerXi = (w: WinogradConfig) => (w.tiles / 8) * (channelsOf(w) / 8);

// V in workgroup memory: [ξ][c][tile] as vec4s over 4 tiles (the inner loop reads a thread's 8
// tiles in two loads), rows padded by 4 floats and each ξ block by 4 more, so the patch writes
// (threads along c) and the inner loop's reads (two ξ per warp) hit distinct banks.
const vRow = (w: WinogradConfig) => w.tiles + 4;
const vStride = (w: WinogradConfig) => w.bk * vRow(w) + 4;

/**
 * Workgroup memory, one vec4 array: V (16·vStride/4) then the U tile (one padding vec4 per ξ) during
 * the K loop; after it, from 0, the output stage [ξ][thread of that ξ][R rows] of vec4 (4 channels),
 * each thread's rows padded by one vec4. R (tile rows per output pass) is the largest of 4, 2, 1
 * whose stage fits in the K loop's memory: large workgroups take more passes, not more memory.
 */
function layout(w: WinogradConfig): { v4: number; rows: number; size: number } {
  const v4 = (16 * vStride(w)) / 4;
  const u4 = (16 * w.bk * channelsOf(w)) / 4 + 16;
  const stage = (r: number) => 16 * threadsPerXi(w) * (r + 1);
  const rows = [4, 2, 1].find((r) => stage(r) <= v4 + u4) ?? 1;
  return { v4, rows, size: Math.max(v4 + u4, stage(rows)) };
}

/**
 * U = G g Gᵀ for every (input channel c, output channel n) of the Winograd convolution, laid out
 * [16, Cp, Np] with zeros beyond C×N. forward: g = W[:, :, c, n]; inputGrad: the convolution of
 * dy with the filter flipped in both axes and its channel axes swapped, g = W[2-kh, 2-kw, n, c].
 */
export class WinogradFilterProgram extends FlatProgram {
  variableNames = ['W'];
  uniforms = 'C : i32, N : i32, Cp : i32, Np : i32, wA : i32, wB : i32,';
  shaderKey: string;

  constructor(
    private readonly op: WinogradOp,
    Cp: number,
    Np: number,
  ) {
    super([16, Cp, Np], Cp * Np);
    this.shaderKey = `partsWinogradFilter_${op}`;
  }

  getUserCode(): string {
    // W is [3, 3, wA, wB].
    const index = (kh: number, kw: number) =>
      this.op === 'forward' ? `((${kh * 3 + kw} * uniforms.wA + c) * uniforms.wB + n)` : `((${(2 - kh) * 3 + (2 - kw)} * uniforms.wA + n) * uniforms.wB + c)`;
    const g = [0, 1, 2].map((kh) => [0, 1, 2].map((kw) => `W[${index(kh, kw)}]`));
    return `
      fn main(index : i32) {
        let total = uniforms.Cp * uniforms.Np;
        if (index >= total) { return; }
        let c = index / uniforms.Np;
        let n = index - c * uniforms.Np;
        var u : array<f32, 16>;
        if (c < uniforms.C && n < uniforms.N) {
          // Rows: G g (4×3), then columns: (G g) Gᵀ (4×4).
          ${[0, 1, 2].map((kw) => `let g0${kw} = ${g[0][kw]}; let g1${kw} = ${g[1][kw]}; let g2${kw} = ${g[2][kw]};`).join('\n          ')}
          ${[0, 1, 2]
            .map((kw) => `let r0${kw} = g0${kw}; let r1${kw} = 0.5 * (g0${kw} + g1${kw} + g2${kw}); let r2${kw} = 0.5 * (g0${kw} - g1${kw} + g2${kw}); let r3${kw} = g2${kw};`)
            .join('\n          ')}
          ${[0, 1, 2, 3]
            .map(
              (i) =>
                `u[${i * 4}] = r${i}0; u[${i * 4 + 1}] = 0.5 * (r${i}0 + r${i}1 + r${i}2); u[${i * 4 + 2}] = 0.5 * (r${i}0 - r${i}1 + r${i}2); u[${i * 4 + 3}] = r${i}2;`,
            )
            .join('\n          ')}
        }
        ${[...Array(16).keys()].map((x) => `result[${x} * total + index] = u[${x}];`).join(' ')}
      }`;
  }
}

const UNIFORMS =
  'inH : i32, inW : i32, C : i32, outH : i32, outW : i32, N : i32, padT : i32, padL : i32, tilesH : i32, tilesW : i32, ' +
  'T : i32, Cp : i32, Np4 : i32, yTiles : i32, alpha : f32,';

export interface WinogradSpec {
  op: WinogradOp;
  /** [batch, outH, outW, N] of the convolution computed (dx for the input gradient). */
  outputShape: number[];
  config: WinogradConfig;
  /** Tiles in all: batch · ⌈outH/2⌉ · ⌈outW/2⌉. */
  tileCount: number;
  epilogue?: Epilogue;
}

export class WinogradProgram implements WebGPUProgram {
  variableNames: string[];
  variableComponents: number[];
  uniforms = UNIFORMS;
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [3], y: [0, 1, 2] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  readonly yTiles: number;

  constructor(private readonly spec: WinogradSpec) {
    const { op, config, epilogue, outputShape, tileCount } = spec;
    checkWinogradConfig(config);
    this.workgroupSize = [winogradInvocations(config), 1, 1];
    if (epilogue && op !== 'forward') throw new Error('WinogradProgram: an epilogue only applies to the forward convolution');
    this.outputShape = outputShape;
    this.variableNames = ['x', 'U', ...(epilogue?.bias ? ['bias'] : [])];
    this.variableComponents = [1, 4, ...(epilogue?.bias ? [1] : [])];
    const blocks = Math.ceil(tileCount / config.tiles);
    const zBlocks = Math.ceil(blocks / MAX_WORKGROUPS_PER_DIM);
    this.yTiles = Math.ceil(blocks / zBlocks);
    this.dispatch = [Math.ceil(outputShape[3] / channelsOf(config)), this.yTiles, zBlocks];
    const epi = epilogue ? `_${epilogue.bias ? 'b' : ''}${epilogue.activation}` : '';
    this.shaderKey = `partsWinograd_${config.tiles}x${config.bk}n${channelsOf(config)}${config.prefetch ? 'p' : ''}${epi}`;
  }

  getUserCode(): string {
    const { config, epilogue } = this.spec;
    const TT = config.tiles;
    const BK = config.bk;
    const BN = channelsOf(config);
    const GN = BN / 8; // threads of one ξ along the channels (each 8 channels); TT / 8 along the tiles
    const P = threadsPerXi(config);
    const WG = 16 * P;
    const L = layout(config);
    const R = L.rows;
    const range = (n: number) => [...Array(n).keys()];
    const uVec4PerStep = (16 * BK * BN) / 4;
    const uLoads = range(Math.ceil(uVec4PerStep / WG));
    const patchThreads = TT * BK;
    const epilogueCode = epilogue ? `${epilogue.bias ? 'r = r + bias[n];' : ''} ${ACTIVATION_WGSL[epilogue.activation]}` : '';
    // d[r][s] of the patch, then t = Bᵀ d (rows), V = t B (columns); ξ = 4·i + j.
    const rowT = (s: number) => `let t0${s} = d0${s} - d2${s}; let t1${s} = d1${s} + d2${s}; let t2${s} = d2${s} - d1${s}; let t3${s} = d1${s} - d3${s};`;
    const colV = (i: number) => [`t${i}0 - t${i}2`, `t${i}1 + t${i}2`, `t${i}2 - t${i}1`, `t${i}1 - t${i}3`];
    // One K step's operands: the patch (16 floats, patch threads only) and this thread's share of
    // the U slice (vec4s), loaded into registers, then transformed and stored to workgroup memory.
    const patchLoad = (c0: string) => `
          if (t < ${patchThreads}) {
            let ok = ${c0} + pc < uniforms.C;
            let p = pBase + ${c0};
            ${range(16).map((k) => `d${k >> 2}${k & 3} = 0.0;`).join(' ')}
            ${range(4)
              .map((r) => range(4).map((s) => `if (ok && rowOk[${r}] && colOk[${s}]) { d${r}${s} = x[p + ${r} * rowStep + ${s} * uniforms.C]; }`).join('\n            '))
              .join('\n            ')}
          }`;
    const patchStore = `
          if (t < ${patchThreads}) {
            ${range(4).map(rowT).join('\n            ')}
            // (One component of a vec4 per invocation: distinct memory locations in WGSL, no race.)
            let w = pc * VROW4 + pl / 4;
            let wc = pl % 4;
            ${range(4)
              .map((i) => colV(i).map((e, j) => `S[${i * 4 + j} * VSTR4 + w][wc] = ${e};`).join(' '))
              .join('\n            ')}
          }`;
    const uSlot = (j: number) => `(t + ${WG * j})`;
    const uLoad = (c0: string) =>
      uLoads
        .map(
          (j) => `
          u${j} = vec4<f32>(0.0);
          if (${uSlot(j)} < ${uVec4PerStep} && ${c0} < uniforms.Cp) {
            let xu = ${uSlot(j)} / ${uVec4PerStep / 16};
            let r = ${uSlot(j)} - xu * ${uVec4PerStep / 16};
            let cu = r / ${BN / 4};
            let q = r - cu * ${BN / 4};
            u${j} = U[(xu * uniforms.Cp + ${c0} + cu) * uniforms.Np4 + nBase / 4 + q];
          }`,
        )
        .join('');
    const uStore = uLoads
      .map(
        (j) => `
          if (${uSlot(j)} < ${uVec4PerStep}) {
            let xu = ${uSlot(j)} / ${uVec4PerStep / 16};
            S[UOFF + xu * USTR + ${uSlot(j)} - xu * ${uVec4PerStep / 16}] = u${j};
          }`,
      )
      .join('');
    const multiply = `
          for (var c = 0; c < ${BK}; c++) {
            let b0 = S[uBase + c * ${BN / 4}];
            let b1 = S[uBase + c * ${BN / 4} + 1];
            let a0 = S[vBase + c * VROW4];
            let a1 = S[vBase + c * VROW4 + 1];
            ${range(8)
              .map((r) => `{ let a = vec4<f32>(a${r >> 2}[${r & 3}]); acc${r}_0 = fma(a, b0, acc${r}_0); acc${r}_1 = fma(a, b1, acc${r}_1); }`)
              .join('\n            ')}
          }`;
    const registers = `${range(16).map((k) => `var d${k >> 2}${k & 3} = 0.0;`).join(' ')} ${uLoads.map((j) => `var u${j} = vec4<f32>(0.0);`).join(' ')}`;
    // With prefetch, the next step's loads are issued before this step's multiply (their latency
    // hides behind the FMAs) and stored after the barrier.
    const kLoop = config.prefetch
      ? `${registers}
        ${patchLoad('0')}
        ${uLoad('0')}
        for (var c0 = 0; c0 < cEnd; c0 = c0 + ${BK}) {
          ${patchStore}
          ${uStore}
          workgroupBarrier();
          ${patchLoad(`(c0 + ${BK})`)}
          ${uLoad(`(c0 + ${BK})`)}
          ${multiply}
          workgroupBarrier();
        }`
      : `${registers}
        for (var c0 = 0; c0 < cEnd; c0 = c0 + ${BK}) {
          ${patchLoad('c0')}
          ${uLoad('c0')}
          ${patchStore}
          ${uStore}
          workgroupBarrier();
          ${multiply}
          workgroupBarrier();
        }`;
    return `
      const VROW4 = ${vRow(config) / 4};
      const VSTR4 = ${vStride(config) / 4};
      const USTR = ${uVec4PerStep / 16 + 1};
      const UOFF = ${L.v4};
      // V and the U tile during the K loop, the output stage after it.
      var<workgroup> S : array<vec4<f32>, ${L.size}>;
      var<workgroup> cRange : i32;

      fn inRange(v : vec4<i32>, n : i32) -> vec4<bool> {
        return (v >= vec4<i32>(0)) & (v < vec4<i32>(n));
      }

      fn store(b : i32, y : i32, x : i32, n : i32, v : f32) {
        if (y < uniforms.outH && x < uniforms.outW && n < uniforms.N) {
          var r = v;
          ${epilogueCode}
          result[((b * uniforms.outH + y) * uniforms.outW + x) * uniforms.N + n] = r;
        }
      }

      fn main() {
        let t = i32(localIndex);
        let tileBase = (i32(workgroupId.y) + i32(workgroupId.z) * uniforms.yTiles) * ${TT};
        let nBase = i32(workgroupId.x) * ${BN};
        // The K loop's trip count must be provably uniform for its barriers.
        if (t == 0) { cRange = uniforms.C; }
        let cEnd = workgroupUniformLoad(&cRange);
        let tilesHW = uniforms.tilesH * uniforms.tilesW;

        // This thread's patch (while t < TT·BK): tile pl = t / BK, channel offset pc = t % BK.
        let pl = t / ${BK};
        let pc = t - pl * ${BK};
        var pBase = 0;
        var rowOk = vec4<bool>(false);
        var colOk = vec4<bool>(false);
        {
          let g = tileBase + pl;
          if (t < ${patchThreads} && g < uniforms.T) {
            let b = g / tilesHW;
            let rem = g - b * tilesHW;
            let ty = rem / uniforms.tilesW;
            let tx = rem - ty * uniforms.tilesW;
            let y0 = 2 * ty - uniforms.padT;
            let x0 = 2 * tx - uniforms.padL;
            pBase = ((b * uniforms.inH + y0) * uniforms.inW + x0) * uniforms.C + pc;
            rowOk = inRange(vec4<i32>(y0) + vec4<i32>(0, 1, 2, 3), uniforms.inH);
            colOk = inRange(vec4<i32>(x0) + vec4<i32>(0, 1, 2, 3), uniforms.inW);
          }
        }
        let rowStep = uniforms.inW * uniforms.C;

        // The multiply: ξ = t / P; tiles gt·8.., channels gn·8.. of the workgroup's block.
        let xi = t / ${P};
        let gt = (t % ${P}) / ${GN};
        let gn = (t % ${P}) % ${GN};
        let vBase = xi * VSTR4 + gt * 2;
        let uBase = UOFF + xi * USTR + gn * 2;
        ${range(8).map((r) => `var acc${r}_0 = vec4<f32>(0.0); var acc${r}_1 = vec4<f32>(0.0);`).join(' ')}

        ${kLoop}

        // Output: 2·8/R passes (tile rows R·q.., channel quad p of every thread's 8×8), through the
        // stage; in each, one thread per (tile, channel) pair of the pass transforms its 16 values.
        let nPer = ${GN * 4};
        let on = t % nPer;
        let ol = t / nPer;
        let og = (ol / ${R}) * ${GN} + on / 4;
        let oi = ol % ${R};
        let oj = on % 4;
        ${range(8 / R)
          .flatMap((q) =>
            [0, 1].map(
              (p) => `{
          ${range(R).map((i) => `S[(xi * ${P} + t % ${P}) * ${R + 1} + ${i}] = acc${R * q + i}_${p};`).join(' ')}
          workgroupBarrier();
          if (t < ${P * R * 4}) {
          ${range(16).map((e) => `let m${e} = S[(${e * P} + og) * ${R + 1} + oi][oj];`).join(' ')}
          // Aᵀ m (rows), then (Aᵀ m) A (columns).
          let s00 = m0 + m4 + m8; let s01 = m1 + m5 + m9; let s02 = m2 + m6 + m10; let s03 = m3 + m7 + m11;
          let s10 = m4 - m8 - m12; let s11 = m5 - m9 - m13; let s12 = m6 - m10 - m14; let s13 = m7 - m11 - m15;
          let g = tileBase + (og / ${GN}) * 8 + ${R * q} + oi;
          let n = nBase + (og % ${GN}) * 8 + ${4 * p} + oj;
          if (g < uniforms.T) {
            let b = g / tilesHW;
            let rem = g - b * tilesHW;
            let ty = rem / uniforms.tilesW;
            let tx = rem - ty * uniforms.tilesW;
            store(b, 2 * ty, 2 * tx, n, s00 + s01 + s02);
            store(b, 2 * ty, 2 * tx + 1, n, s01 - s02 - s03);
            store(b, 2 * ty + 1, 2 * tx, n, s10 + s11 + s12);
            store(b, 2 * ty + 1, 2 * tx + 1, n, s11 - s12 - s13);
          }
          }
          workgroupBarrier();
        }`,
            ),
          )
          .join('\n        ')}
      }`;
  }
}

/**
 * A 3×3 stride-1 convolution (forward: inputs [x, W] + bias with a bias epilogue) or its input
 * gradient (inputs [dy, W]) by F(2×2, 3×3). The caller checks winogradApplies.
 */
export function runWinograd(backend: WebGPUBackend, op: WinogradOp, c: backend_util.Conv2DInfo, inputs: TensorInfo[], config: WinogradConfig, epilogue?: Epilogue): TensorInfo {
  if (!winogradApplies(c)) throw new Error('runWinograd: needs a 3×3 filter, stride 1 and no dilation');
  const fwd = op === 'forward';
  // The convolution computed: forward x → y, or dy → dx with the padding of a "full" convolution.
  const inH = fwd ? c.inHeight : c.outHeight;
  const inW = fwd ? c.inWidth : c.outWidth;
  const C = fwd ? c.inChannels : c.outChannels;
  const outH = fwd ? c.outHeight : c.inHeight;
  const outW = fwd ? c.outWidth : c.inWidth;
  const N = fwd ? c.outChannels : c.inChannels;
  const padT = fwd ? c.padInfo.top : 2 - c.padInfo.top;
  const padL = fwd ? c.padInfo.left : 2 - c.padInfo.left;
  const Cp = roundUp(C, C_ALIGN);
  const Np = roundUp(N, channelsOf(config));
  const int = (v: number) => ({ type: 'int32', data: [v] });
  const filter = inputs[1];
  const U = backend.runWebGPUProgram(new WinogradFilterProgram(op, Cp, Np), [filter], 'float32', [
    int(C), int(N), int(Cp), int(Np), int(filter.shape[2]), int(filter.shape[3]),
  ] as never);
  const tilesH = Math.ceil(outH / 2);
  const tilesW = Math.ceil(outW / 2);
  const T = c.batchSize * tilesH * tilesW;
  const prog = new WinogradProgram({ op, outputShape: [c.batchSize, outH, outW, N], config, tileCount: T, epilogue });
  const programInputs = [inputs[0], U, ...(epilogue?.bias ? [inputs[2]] : [])];
  try {
    return backend.runWebGPUProgram(prog, programInputs, 'float32', [
      int(inH), int(inW), int(C), int(outH), int(outW), int(N), int(padT), int(padL), int(tilesH), int(tilesW),
      int(T), int(Cp), int(Np / 4), int(prog.yTiles), { type: 'float32', data: [epilogue?.alpha ?? 0] },
    ] as never);
  } finally {
    backend.disposeData(U.dataId);
  }
}
