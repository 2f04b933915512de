// The filter gradient of a 3×3 stride-1 convolution by Winograd's F(3×3, 2×2): per 2×2 tile of dy
// and each (input channel, output channel) pair, 16 multiplications instead of 36.
//
// dW[kh, kw, ci, co] = Σ_{b,y,x} x[b, y+kh-padT, x+kw-padL, ci] · dy[b, y, x, co]. Cut dy into 2×2
// tiles: each tile contributes the correlation of a 4×4 x patch with a 2×2 dy tile, a 3×3 result,
// which F(3×3, 2×2) computes as Gᵀ [(A d Aᵀ) ⊙ (Bᵀ p B)] G (the transpose of F(2×2, 3×3): same B,
// with the roles of A and G exchanged). Summed over tiles, M_ξ[ci, co] = Σ_tiles V_ξ[tile, ci] ·
// D_ξ[tile, co] is one GEMM per ξ with the tiles as K (hundreds of thousands at 256 px), so K is
// split over workgroups like the implicit-GEMM filter gradient; the partial sums are added
// (SumSplitsProgram) and the 3×3 output transform applied once per (ci, co) at the end.
//
// A workgroup owns one row i of the 4×4 transformed tile (ξ = 4i..4i+3: only two rows of each x
// patch and a quarter of the transform are needed), BC input × BC output channels (64, or 56 for
// 50-channel layers) and a chunk of tiles; (BC/8)² threads per ξ each multiply an 8×8 block (16 vec4
// accumulators). Per step of 8 tiles, loader slots (four channels each, written as a vec4) transform
// x patches and dy tiles, one or two slots per thread.
import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { FlatProgram } from './flat-program';
import { MAX_WORKGROUPS_PER_DIM } from './device-limits';
import { splitReduction, sumSplits } from './split-k';

const STEP = 8; // tiles per K step
const roundUp = (v: number, m: number) => Math.ceil(v / m) * m;

const UNIFORMS =
  'inH : i32, inW : i32, C : i32, outH : i32, outW : i32, N : i32, padT : i32, padL : i32, tilesH : i32, tilesW : i32, ' +
  'T : i32, kChunk : i32, Cp : i32, Np : i32,';

export class WinogradFilterGradProgram implements WebGPUProgram {
  variableNames = ['x', 'dy'];
  uniforms = UNIFORMS;
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [3], y: [0, 1, 2] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];

  /**
   * Output [splits, 16, Cp, Np]: the partial M_ξ of each split. `bc`: channels per block (input and
   * output), a multiple of 8 up to 64; 4·(bc/8)² threads (56: 196 threads, for 50-channel layers).
   */
  constructor(
    splits: number,
    Cp: number,
    Np: number,
    private readonly bc = 64,
    /** Load the next step's patches and dy tiles into registers during this step's multiply. */
    private readonly prefetch = false,
  ) {
    checkFilterGradBlock(bc);
    this.outputShape = [splits, 16, Cp, Np];
    this.dispatch = [Cp / bc, (Np / bc) * 4, splits];
    this.workgroupSize = [4 * (bc / 8) ** 2, 1, 1];
    this.shaderKey = `partsWinogradFilterGrad_${bc}${prefetch ? 'p' : ''}`;
  }

  getUserCode(): string {
    const range = (n: number) => [...Array(n).keys()];
    const BC = this.bc;
    const G = BC / 8; // threads of one ξ along each channel axis
    const WG = 4 * G * G;
    const Q = BC / 4; // channel quads per block
    const SLOTS = 2 * STEP * Q; // loader slots per step: STEP·Q x-patch quads, then STEP·Q dy-tile quads
    const perThread = range(Math.ceil(SLOTS / WG));
    // One slot's four transformed vec4s (the rows of V or D for four channels) live in registers
    // between the load and the store, so the prefetching loop can load step k+1 during step k's multiply.
    const registers = perThread.map((j) => range(4).map((m) => `var r${j}_${m} = vec4<f32>(0.0);`).join(' ')).join(' ');
    const loadSlot = (j: number, k0: string) => `{
          let slot = t + ${j * WG};
          ${range(4).map((m) => `r${j}_${m} = vec4<f32>(0.0);`).join(' ')}
          if (slot < ${SLOTS}) {
            let isV = slot < ${STEP * Q};
            let ls = select(slot - ${STEP * Q}, slot, isV);
            let lk = ls / ${Q};
            let lq = ls - lk * ${Q};
            let g = ${k0} + lk;
            var b = 0; var ty = 0; var tx = 0;
            let tileOk = g < kr.y;
            if (tileOk) {
              b = g / tilesHW;
              let rem = g - b * tilesHW;
              ty = rem / uniforms.tilesW;
              tx = rem - ty * uniforms.tilesW;
            }
            if (isV) {
              // V row i for four input channels: e_s = p[ra][s] + sg·p[rb][s], then e·B.
              let y0 = 2 * ty - uniforms.padT;
              let x0 = 2 * tx - uniforms.padL;
              ${range(4).map((s) => `var e${s} = vec4<f32>(0.0);`).join(' ')}
              ${range(4)
                .map(
                  (lane) => `{
                let ci = ciBase + 4 * lq + ${lane};
                if (tileOk && ci < uniforms.C) {
                  ${range(4)
                    .map(
                      (s) => `{
                    var v = 0.0;
                    if (inImage(y0 + ra, x0 + ${s})) { v = x[((b * uniforms.inH + y0 + ra) * uniforms.inW + x0 + ${s}) * uniforms.C + ci]; }
                    if (inImage(y0 + rb, x0 + ${s})) { v = v + sg * x[((b * uniforms.inH + y0 + rb) * uniforms.inW + x0 + ${s}) * uniforms.C + ci]; }
                    e${s}[${lane}] = v;
                  }`,
                    )
                    .join('')}
                }
              }`,
                )
                .join('')}
              r${j}_0 = e0 - e2; r${j}_1 = e1 + e2; r${j}_2 = e2 - e1; r${j}_3 = e1 - e3;
            } else {
              // D row i for four output channels: f_s = al·d[0][s] + be·d[1][s], then (f0, f0+f1, f0−f1, −f1).
              ${range(2).map((s) => `var f${s} = vec4<f32>(0.0);`).join(' ')}
              ${range(4)
                .map(
                  (lane) => `{
                let co = coBase + 4 * lq + ${lane};
                if (tileOk && co < uniforms.N) {
                  ${range(2)
                    .map(
                      (s) => `{
                    var v = 0.0;
                    let ox = 2 * tx + ${s};
                    if (ox < uniforms.outW) {
                      v = al * dy[((b * uniforms.outH + 2 * ty) * uniforms.outW + ox) * uniforms.N + co];
                      if (2 * ty + 1 < uniforms.outH) { v = v + be * dy[((b * uniforms.outH + 2 * ty + 1) * uniforms.outW + ox) * uniforms.N + co]; }
                    }
                    f${s}[${lane}] = v;
                  }`,
                    )
                    .join('')}
                }
              }`,
                )
                .join('')}
              r${j}_0 = f0; r${j}_1 = f0 + f1; r${j}_2 = f0 - f1; r${j}_3 = -f1;
            }
          }
        }`;
    // Slot ls = lk·Q + lq is also its position in a row of Vs / Ds.
    const storeSlot = (j: number) => `{
          let slot = t + ${j * WG};
          if (slot < ${STEP * Q}) {
            ${range(4).map((m) => `Vs[${m * STEP * Q} + slot] = r${j}_${m};`).join(' ')}
          } else if (slot < ${SLOTS}) {
            ${range(4).map((m) => `Ds[${m * STEP * Q} + slot - ${STEP * Q}] = r${j}_${m};`).join(' ')}
          }
        }`;
    const loads = (k0: string) => perThread.map((j) => loadSlot(j, k0)).join('\n        ');
    const stores = perThread.map(storeSlot).join('\n        ');
    const multiply = `for (var k = 0; k < ${STEP}; k++) {
            let o = (xj * ${STEP} + k) * ${Q};
            let a0 = Vs[o + 2 * gm];
            let a1 = Vs[o + 2 * gm + 1];
            let b0 = Ds[o + 2 * gn];
            let b1 = Ds[o + 2 * gn + 1];
            ${range(8)
              .map((r) => `{ let a = vec4<f32>(a${r >> 2}[${r & 3}]); acc${r}_0 = fma(a, b0, acc${r}_0); acc${r}_1 = fma(a, b1, acc${r}_1); }`)
              .join('\n            ')}
          }`;
    const kLoop = this.prefetch
      ? `${loads('kr.x')}
        for (var k0 = kr.x; k0 < kr.y; k0 = k0 + ${STEP}) {
          ${stores}
          workgroupBarrier();
          ${loads(`(k0 + ${STEP})`)}
          ${multiply}
          workgroupBarrier();
        }`
      : `for (var k0 = kr.x; k0 < kr.y; k0 = k0 + ${STEP}) {
          ${loads('k0')}
          ${stores}
          workgroupBarrier();
          ${multiply}
          workgroupBarrier();
        }`;
    return `
      var<workgroup> Vs : array<vec4<f32>, ${4 * STEP * Q}>;
      var<workgroup> Ds : array<vec4<f32>, ${4 * STEP * Q}>;
      var<workgroup> kRange : vec2<i32>;

      fn inImage(y : i32, x : i32) -> bool {
        return y >= 0 && y < uniforms.inH && x >= 0 && x < uniforms.inW;
      }

      fn main() {
        let t = i32(localIndex);
        let ciBase = i32(workgroupId.x) * ${BC};
        let xg = i32(workgroupId.y) % 4; // the row i of the transformed tile
        let coBase = (i32(workgroupId.y) / 4) * ${BC};
        let split = i32(workgroupId.z);
        // A provably uniform K range for the barriers (workgroupId reaches WGSL as non-uniform).
        if (t == 0) {
          let kb = split * uniforms.kChunk;
          kRange = vec2<i32>(kb, min(uniforms.T, kb + uniforms.kChunk));
        }
        let kr = workgroupUniformLoad(&kRange);
        let tilesHW = uniforms.tilesH * uniforms.tilesW;
        // Row i of Bᵀ p takes two patch rows: p[ra] + sg·p[rb]; row i of A d two dy rows: al·d[0] + be·d[1].
        var raT = array<i32, 4>(0, 1, 2, 1);
        var rbT = array<i32, 4>(2, 2, 1, 3);
        var sgT = array<f32, 4>(-1.0, 1.0, -1.0, -1.0);
        var alT = array<f32, 4>(1.0, 1.0, 1.0, 0.0);
        var beT = array<f32, 4>(0.0, 1.0, -1.0, -1.0);
        let ra = raT[xg];
        let rb = rbT[xg];
        let sg = sgT[xg];
        let al = alT[xg];
        let be = beT[xg];
        // Multiply roles: ξ = 4·xg + xj; input channels gm·8.., output channels gn·8..
        let xj = t / ${G * G};
        let gm = (t % ${G * G}) / ${G};
        let gn = t % ${G};
        ${range(8).map((r) => `var acc${r}_0 = vec4<f32>(0.0); var acc${r}_1 = vec4<f32>(0.0);`).join(' ')}

        ${registers}
        ${kLoop}

        // Partial M_ξ of this split: [split, ξ, Cp, Np] (channel padding included: zeros).
        let xi = 4 * xg + xj;
        let rowBase = ((split * 16 + xi) * uniforms.Cp + ciBase + 8 * gm) * uniforms.Np + coBase + 8 * gn;
        ${range(8)
          .map((r) => range(8).map((c) => `result[rowBase + ${r} * uniforms.Np + ${c}] = acc${r}_${c >> 2}[${c & 3}];`).join(' '))
          .join('\n        ')}
      }`;
  }
}

/** dW[kh, kw, ci, co] = (Gᵀ M G)[kh, kw] from the summed M [16, Cp, Np]. */
class WinogradFilterGradOutputProgram extends FlatProgram {
  variableNames = ['M'];
  uniforms = 'C : i32, N : i32, Cp : i32, Np : i32,';
  shaderKey = 'partsWinogradFilterGradOutput';

  constructor(C: number, N: number) {
    super([3, 3, C, N], C * N);
  }

  getUserCode(): string {
    const range = (n: number) => [...Array(n).keys()];
    // Gᵀ on a 4-vector: (m0 + ½(m1 + m2), ½(m1 − m2), ½(m1 + m2) + m3).
    const gt = (m: string[]) => [`${m[0]} + 0.5 * (${m[1]} + ${m[2]})`, `0.5 * (${m[1]} - ${m[2]})`, `0.5 * (${m[1]} + ${m[2]}) + ${m[3]}`];
    return `
      fn main(index : i32) {
        let cn = uniforms.C * uniforms.N;
        if (index >= cn) { return; }
        let ci = index / uniforms.N;
        let co = index - ci * uniforms.N;
        let plane = uniforms.Cp * uniforms.Np;
        let at = ci * uniforms.Np + co;
        ${range(16).map((e) => `let m${e} = M[${e} * plane + at];`).join(' ')}
        ${range(4)
          .map((j) => gt([0, 1, 2, 3].map((i) => `m${i * 4 + j}`)).map((e, k) => `let q${k}${j} = ${e};`).join(' '))
          .join('\n        ')}
        ${range(3)
          .map((k) => gt([0, 1, 2, 3].map((j) => `q${k}${j}`)).map((e, l) => `result[${k * 3 + l} * cn + index] = ${e};`).join(' '))
          .join('\n        ')}
      }`;
  }
}

/** A channel block the filter-gradient program can build: a multiple of 8, at most 64 (256 threads). */
export function checkFilterGradBlock(bc: number): void {
  if (!Number.isInteger(bc) || bc % 8 !== 0 || bc < 8 || bc > 64) throw new Error(`Winograd filter gradient: channel block must be a multiple of 8 from 8 to 64, got ${bc}`);
}

/**
 * Filter gradient [3, 3, C, N] of a 3×3 stride-1 convolution from x and dy by F(3×3, 2×2), in
 * blocks of `bc` input × `bc` output channels.
 */
export function runWinogradFilterGrad(backend: WebGPUBackend, c: backend_util.Conv2DInfo, x: TensorInfo, dy: TensorInfo, BC = 64, prefetch = false): TensorInfo {
  const C = c.inChannels;
  const N = c.outChannels;
  const Cp = roundUp(C, BC);
  const Np = roundUp(N, BC);
  const tilesH = Math.ceil(c.outHeight / 2);
  const tilesW = Math.ceil(c.outWidth / 2);
  const T = c.batchSize * tilesH * tilesW;
  const blocks = (Cp / BC) * (Np / BC) * 4;
  const { chunks: splits, chunkLength: kChunk } = splitReduction(T, blocks, 1024, 8 * STEP, STEP);
  if ((Np / BC) * 4 > MAX_WORKGROUPS_PER_DIM) throw new Error(`runWinogradFilterGrad: ${N} output channels exceed the dispatch limit`);
  const int = (v: number) => ({ type: 'int32', data: [v] });
  const partial = backend.runWebGPUProgram(new WinogradFilterGradProgram(splits, Cp, Np, BC, prefetch), [x, dy], 'float32', [
    int(c.inHeight), int(c.inWidth), int(C), int(c.outHeight), int(c.outWidth), int(N), int(c.padInfo.top), int(c.padInfo.left),
    int(tilesH), int(tilesW), int(T), int(kChunk), int(Cp), int(Np),
  ] as never);
  const M = sumSplits(backend, partial, splits, [16, Cp, Np]);
  backend.disposeData(partial.dataId);
  const out = backend.runWebGPUProgram(new WinogradFilterGradOutputProgram(C, N), [M], 'float32', [int(C), int(N), int(Cp), int(Np)] as never);
  backend.disposeData(M.dataId);
  return out;
}
