// SIMD kernels for the wasm backend's training step, in AssemblyScript (compiled by
// `pnpm --filter @parts/backend build:simd` into ../src/wasm-kernels/simd/*.wasm).
//
// They run on tfjs-backend-wasm's own memory (imported), on tensors it allocated: every pointer is
// a byte offset into that heap, every array float32 and channels-last. Nothing here allocates: the
// scratch buffers come from the caller (tfjs' malloc). Each kernel takes a row range [r0, r1) so
// the work can be split between threads; reductions add into float64 accumulators the caller owns.
//
// Sums run in float32 over blocks of BLOCK rows and are then added to the float64 accumulators,
// which keeps the error of a 65,536-row sum near float64's instead of growing with the row count.

const BLOCK: i32 = 64;

@inline function cols4(cols: i32): i32 {
  return cols & ~3;
}

/** acc64[c] += tmp32[c]; tmp32[c] = 0, for c < cols. */
function flush(tmp: usize, acc: usize, cols: i32): void {
  for (let c = 0; c < cols; c++) {
    const t = tmp + (<usize>c << 2);
    const a = acc + (<usize>c << 3);
    store<f64>(a, load<f64>(a) + <f64>load<f32>(t));
    store<f32>(t, 0);
  }
}

function zero32(p: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(p + (<usize>i << 2), 0);
}

/** acc[c] += Σ_{r0 ≤ r < r1} x[r, c]. tmp: cols float32 of scratch. */
export function sumCols(x: usize, r0: i32, r1: i32, cols: i32, tmp: usize, acc: usize): void {
  const c4 = cols4(cols);
  zero32(tmp, cols);
  for (let b = r0; b < r1; b += BLOCK) {
    const e = min(r1, b + BLOCK);
    for (let r = b; r < e; r++) {
      const row = x + (<usize>(r * cols) << 2);
      let c = 0;
      for (; c < c4; c += 4) {
        const t = tmp + (<usize>c << 2);
        v128.store(t, f32x4.add(v128.load(t), v128.load(row + (<usize>c << 2))));
      }
      for (; c < cols; c++) {
        const t = tmp + (<usize>c << 2);
        store<f32>(t, load<f32>(t) + load<f32>(row + (<usize>c << 2)));
      }
    }
    flush(tmp, acc, cols);
  }
}

/** acc[c] += Σ_r (x[r, c] − mean[c])². */
export function sumSqDevCols(x: usize, mean: usize, r0: i32, r1: i32, cols: i32, tmp: usize, acc: usize): void {
  const c4 = cols4(cols);
  zero32(tmp, cols);
  for (let b = r0; b < r1; b += BLOCK) {
    const e = min(r1, b + BLOCK);
    for (let r = b; r < e; r++) {
      const row = x + (<usize>(r * cols) << 2);
      let c = 0;
      for (; c < c4; c += 4) {
        const o = <usize>c << 2;
        const d = f32x4.sub(v128.load(row + o), v128.load(mean + o));
        v128.store(tmp + o, f32x4.add(v128.load(tmp + o), f32x4.mul(d, d)));
      }
      for (; c < cols; c++) {
        const o = <usize>c << 2;
        const d = load<f32>(row + o) - load<f32>(mean + o);
        store<f32>(tmp + o, load<f32>(tmp + o) + d * d);
      }
    }
    flush(tmp, acc, cols);
  }
}

/**
 * The gradient reaching a batch norm's output: dy, or with a ReLU fused after it, dy where the
 * normalised value x·scale + shift is positive (computed as affineReluCols computes it, so the
 * mask is exactly the one of its output), else 0.
 */
@inline function dyIn(g: v128, xv: v128, scale: usize, shift: usize, o: usize, relu: bool): v128 {
  if (!relu) return g;
  const pre = f32x4.add(f32x4.mul(xv, v128.load(scale + o)), v128.load(shift + o));
  return v128.and(g, f32x4.gt(pre, f32x4.splat(0)));
}

@inline function dyIn1(g: f32, xv: f32, scale: usize, shift: usize, o: usize, relu: bool): f32 {
  return !relu || xv * load<f32>(scale + o) + load<f32>(shift + o) > 0 ? g : 0;
}

@inline function sumsDy(dy: usize, x: usize, mean: usize, scale: usize, shift: usize, relu: bool, r0: i32, r1: i32, cols: i32, tmp: usize, acc1: usize, acc2: usize): void {
  const c4 = cols4(cols);
  const tmp2 = tmp + (<usize>cols << 2);
  zero32(tmp, 2 * cols);
  for (let b = r0; b < r1; b += BLOCK) {
    const e = min(r1, b + BLOCK);
    for (let r = b; r < e; r++) {
      const off = <usize>(r * cols) << 2;
      const gRow = dy + off, xRow = x + off;
      let c = 0;
      for (; c < c4; c += 4) {
        const o = <usize>c << 2;
        const xv = v128.load(xRow + o);
        const g = dyIn(v128.load(gRow + o), xv, scale, shift, o, relu);
        const d = f32x4.sub(xv, v128.load(mean + o));
        v128.store(tmp + o, f32x4.add(v128.load(tmp + o), g));
        v128.store(tmp2 + o, f32x4.add(v128.load(tmp2 + o), f32x4.mul(g, d)));
      }
      for (; c < cols; c++) {
        const o = <usize>c << 2;
        const xv = load<f32>(xRow + o);
        const g = dyIn1(load<f32>(gRow + o), xv, scale, shift, o, relu);
        store<f32>(tmp + o, load<f32>(tmp + o) + g);
        store<f32>(tmp2 + o, load<f32>(tmp2 + o) + g * (xv - load<f32>(mean + o)));
      }
    }
    flush(tmp, acc1, cols);
    flush(tmp2, acc2, cols);
  }
}

/** acc1[c] += Σ_r dy[r, c];  acc2[c] += Σ_r dy[r, c]·(x[r, c] − mean[c]). tmp: 2·cols float32. */
export function sumsDyCols(dy: usize, x: usize, mean: usize, r0: i32, r1: i32, cols: i32, tmp: usize, acc1: usize, acc2: usize): void {
  sumsDy(dy, x, mean, 0, 0, false, r0, r1, cols, tmp, acc1, acc2);
}

/** sumsDyCols with a ReLU fused after the batch norm: dy masked where x·scale + shift ≤ 0 (see dyIn). */
export function sumsDyReluCols(dy: usize, x: usize, mean: usize, scale: usize, shift: usize, r0: i32, r1: i32, cols: i32, tmp: usize, acc1: usize, acc2: usize): void {
  sumsDy(dy, x, mean, scale, shift, true, r0, r1, cols, tmp, acc1, acc2);
}

@inline function affine(x: usize, y: usize, scale: usize, shift: usize, relu: bool, r0: i32, r1: i32, cols: i32): void {
  const c4 = cols4(cols);
  const zero = f32x4.splat(0);
  for (let r = r0; r < r1; r++) {
    const off = <usize>(r * cols) << 2;
    const xr = x + off, yr = y + off;
    let c = 0;
    for (; c < c4; c += 4) {
      const o = <usize>c << 2;
      const v = f32x4.add(f32x4.mul(v128.load(xr + o), v128.load(scale + o)), v128.load(shift + o));
      v128.store(yr + o, relu ? f32x4.max(v, zero) : v);
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      const v = load<f32>(xr + o) * load<f32>(scale + o) + load<f32>(shift + o);
      store<f32>(yr + o, relu ? Mathf.max(v, 0) : v);
    }
  }
}

/** y[r, c] = x[r, c]·scale[c] + shift[c]. */
export function affineCols(x: usize, y: usize, scale: usize, shift: usize, r0: i32, r1: i32, cols: i32): void {
  affine(x, y, scale, shift, false, r0, r1, cols);
}

/** y[r, c] = max(x[r, c]·scale[c] + shift[c], 0): a batch norm's output through a ReLU, in one pass. */
export function affineReluCols(x: usize, y: usize, scale: usize, shift: usize, r0: i32, r1: i32, cols: i32): void {
  affine(x, y, scale, shift, true, r0, r1, cols);
}

@inline function gradDx(dy: usize, x: usize, scale: usize, shift: usize, relu: bool, a: usize, b: usize, k: usize, out: usize, r0: i32, r1: i32, cols: i32): void {
  const c4 = cols4(cols);
  for (let r = r0; r < r1; r++) {
    const off = <usize>(r * cols) << 2;
    const gr = dy + off, xr = x + off, orow = out + off;
    let c = 0;
    for (; c < c4; c += 4) {
      const o = <usize>c << 2;
      const xv = v128.load(xr + o);
      const g = dyIn(v128.load(gr + o), xv, scale, shift, o, relu);
      const v = f32x4.add(f32x4.add(f32x4.mul(v128.load(a + o), g), f32x4.mul(v128.load(b + o), xv)), v128.load(k + o));
      v128.store(orow + o, v);
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      const xv = load<f32>(xr + o);
      const g = dyIn1(load<f32>(gr + o), xv, scale, shift, o, relu);
      store<f32>(orow + o, load<f32>(a + o) * g + load<f32>(b + o) * xv + load<f32>(k + o));
    }
  }
}

/** out[r, c] = a[c]·dy[r, c] + b[c]·x[r, c] + k[c]. */
export function gradCols(dy: usize, x: usize, a: usize, b: usize, k: usize, out: usize, r0: i32, r1: i32, cols: i32): void {
  gradDx(dy, x, 0, 0, false, a, b, k, out, r0, r1, cols);
}

/** gradCols with a ReLU fused after the batch norm: dy masked where x·scale + shift ≤ 0 (see dyIn). */
export function gradReluCols(dy: usize, x: usize, scale: usize, shift: usize, a: usize, b: usize, k: usize, out: usize, r0: i32, r1: i32, cols: i32): void {
  gradDx(dy, x, scale, shift, true, a, b, k, out, r0, r1, cols);
}

/**
 * dx of a max pool (dilation 1), NHWC, for output rows q = n·Ho + oh in [q0, q1): each dy value is
 * added at the first (row-major) maximum of its window, like the cpu backend. dx must be zeroed.
 */
export function maxPoolGrad(
  x: usize, dy: usize, dx: usize, q0: i32, q1: i32,
  H: i32, W: i32, C: i32, Ho: i32, Wo: i32, eH: i32, eW: i32, sH: i32, sW: i32, padT: i32, padL: i32,
): void {
  const c4 = cols4(C);
  const negInf = f32x4.splat(-Infinity);
  const none = i32x4.splat(-1);
  for (let q = q0; q < q1; q++) {
    const n = q / Ho, oh = q % Ho;
    const h0 = oh * sH - padT;
    const hLo = max(0, h0), hHi = min(H, h0 + eH);
    for (let ow = 0; ow < Wo; ow++) {
      const w0 = ow * sW - padL;
      const wLo = max(0, w0), wHi = min(W, w0 + eW);
      const di = dy + (<usize>((q * Wo + ow) * C) << 2);
      let c = 0;
      for (; c < c4; c += 4) {
        let best = negInf;
        let at = none;
        for (let h = hLo; h < hHi; h++) {
          for (let w = wLo; w < wHi; w++) {
            const idx = ((n * H + h) * W + w) * C + c;
            const v = v128.load(x + (<usize>idx << 2));
            const take = v128.or(f32x4.gt(v, best), i32x4.lt_s(at, i32x4.splat(0)));
            best = v128.bitselect(v, best, take);
            at = v128.bitselect(i32x4.add(i32x4.splat(idx), i32x4(0, 1, 2, 3)), at, take);
          }
        }
        const g = v128.load(di + (<usize>c << 2));
        addLane(dx, i32x4.extract_lane(at, 0), f32x4.extract_lane(g, 0));
        addLane(dx, i32x4.extract_lane(at, 1), f32x4.extract_lane(g, 1));
        addLane(dx, i32x4.extract_lane(at, 2), f32x4.extract_lane(g, 2));
        addLane(dx, i32x4.extract_lane(at, 3), f32x4.extract_lane(g, 3));
      }
      for (; c < C; c++) {
        let best: f32 = -Infinity;
        let at: i32 = -1;
        for (let h = hLo; h < hHi; h++) {
          for (let w = wLo; w < wHi; w++) {
            const idx = ((n * H + h) * W + w) * C + c;
            const v = load<f32>(x + (<usize>idx << 2));
            if (v > best || at < 0) { best = v; at = idx; }
          }
        }
        addLane(dx, at, load<f32>(di + (<usize>c << 2)));
      }
    }
  }
}

@inline function addLane(dx: usize, idx: i32, g: f32): void {
  if (idx >= 0) {
    const p = dx + (<usize>idx << 2);
    store<f32>(p, load<f32>(p) + g);
  }
}

/**
 * The transposed im2col of the filter gradient's matrix product for a chunk of output rows: rows
 * j = n·outH + oh (over the whole batch) in [c0, c1) make the chunk's P = (c1 − c0)·outW columns,
 * and this call fills the rows j in [j0, j1) ⊆ [c0, c1):
 *   colsT[(tap·inC + ci)·P + (j − c0)·outW + ow] = x[n, ih, iw, ci]  (0 in the padding)
 * with tap = fh·fW + fw, ih = oh·sH − padT + fh·dH, iw = ow·sW − padL + fw·dW.
 * Four channels of four output columns are loaded as four vectors and transposed in registers.
 */
export function im2colT(
  x: usize, colsT: usize, c0: i32, c1: i32, j0: i32, j1: i32,
  inH: i32, inW: i32, inC: i32, outH: i32, outW: i32, fH: i32, fW: i32,
  sH: i32, sW: i32, dH: i32, dW: i32, padT: i32, padL: i32,
): void {
  const P = (c1 - c0) * outW;
  const ci4 = inC & ~3;
  const xStep = <usize>(sW * inC) << 2;
  for (let fh = 0; fh < fH; fh++) {
    for (let fw = 0; fw < fW; fw++) {
      const tapRow = (fh * fW + fw) * inC;
      const off = fw * dW - padL;
      // output columns whose input column lies inside the image
      let owStart = off >= 0 ? 0 : (-off + sW - 1) / sW;
      let owEnd = min(outW, (inW - 1 - off) / sW + 1);
      if (inW - 1 - off < 0) owEnd = 0;
      if (owEnd < owStart) owEnd = owStart;
      for (let j = j0; j < j1; j++) {
        const n = j / outH, oh = j % outH;
        const p0 = (j - c0) * outW;
        const ih = oh * sH - padT + fh * dH;
        const inside = ih >= 0 && ih < inH;
        for (let c = 0; c < inC; c++) {
          const dst = colsT + (<usize>((tapRow + c) * P + p0) << 2);
          const lo = inside ? owStart : outW;
          for (let ow = 0; ow < lo; ow++) store<f32>(dst + (<usize>ow << 2), 0);
          for (let ow = inside ? owEnd : outW; ow < outW; ow++) store<f32>(dst + (<usize>ow << 2), 0);
        }
        if (!inside || owEnd <= owStart) continue;
        const xRow = x + (<usize>((n * inH + ih) * inW * inC) << 2);
        const xFirst = xRow + (<usize>((owStart * sW + off) * inC) << 2);
        const span = owEnd - owStart;
        const span4 = span & ~3;
        let c = 0;
        for (; c < ci4; c += 4) {
          const d0 = colsT + (<usize>((tapRow + c) * P + p0 + owStart) << 2);
          const rowBytes = <usize>P << 2;
          let xi = xFirst + (<usize>c << 2);
          let k = 0;
          for (; k < span4; k += 4) {
            const r0 = v128.load(xi);
            const r1 = v128.load(xi + xStep);
            const r2 = v128.load(xi + 2 * xStep);
            const r3 = v128.load(xi + 3 * xStep);
            const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
            const t1 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
            const t2 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
            const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
            const d = d0 + (<usize>k << 2);
            v128.store(d, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
            v128.store(d + rowBytes, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
            v128.store(d + 2 * rowBytes, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
            v128.store(d + 3 * rowBytes, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
            xi += 4 * xStep;
          }
          for (; k < span; k++) {
            const d = d0 + (<usize>k << 2);
            store<f32>(d, load<f32>(xi));
            store<f32>(d + rowBytes, load<f32>(xi + 4));
            store<f32>(d + 2 * rowBytes, load<f32>(xi + 8));
            store<f32>(d + 3 * rowBytes, load<f32>(xi + 12));
            xi += xStep;
          }
        }
        for (; c < inC; c++) {
          const d0 = colsT + (<usize>((tapRow + c) * P + p0 + owStart) << 2);
          let xi = xFirst + (<usize>c << 2);
          for (let k = 0; k < span; k++) {
            store<f32>(d0 + (<usize>k << 2), load<f32>(xi));
            xi += xStep;
          }
        }
      }
    }
  }
}

/**
 * out[i] = max(x[i], 0), i in [i0, i1): wasm's max, as tfjs' wasm Relu gives it (NaN stays NaN,
 * -0 becomes 0).
 */
export function relu(x: usize, out: usize, i0: i32, i1: i32): void {
  const zero = f32x4.splat(0);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.max(v128.load(x + o), zero));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, Mathf.max(load<f32>(x + o), 0));
  }
}

/** out[i] = dy[i] where y[i] > 0, else 0 (the ReLU's gradient from its output), i in [i0, i1). */
export function reluGrad(dy: usize, y: usize, out: usize, i0: i32, i1: i32): void {
  const zero = f32x4.splat(0);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, v128.and(v128.load(dy + o), f32x4.gt(v128.load(y + o), zero)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(y + o) > 0 ? load<f32>(dy + o) : 0);
  }
}

/**
 * Adam's moments, m and v packed as [2, n]: out = [b1·m + g·(1 − b1), b2·v + g²·(1 − b2)], in the
 * order of float operations of tfjs' Adam, for i in [i0, i1).
 */
export function adamMoments(mv: usize, g: usize, out: usize, n: i32, i0: i32, i1: i32, b1: f32, oneMinusB1: f32, b2: f32, oneMinusB2: f32): void {
  const vOff = <usize>n << 2;
  const B1 = f32x4.splat(b1), C1 = f32x4.splat(oneMinusB1), B2 = f32x4.splat(b2), C2 = f32x4.splat(oneMinusB2);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    const gi = v128.load(g + o);
    v128.store(out + o, f32x4.add(f32x4.mul(v128.load(mv + o), B1), f32x4.mul(gi, C1)));
    v128.store(out + vOff + o, f32x4.add(f32x4.mul(v128.load(mv + vOff + o), B2), f32x4.mul(f32x4.mul(gi, gi), C2)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    const gi = load<f32>(g + o);
    store<f32>(out + o, load<f32>(mv + o) * b1 + gi * oneMinusB1);
    store<f32>(out + vOff + o, load<f32>(mv + vOff + o) * b2 + (gi * gi) * oneMinusB2);
  }
}

/** Adam's step: out = (m/c1) / (√(v/c2) + eps) · (−lr) + x, for i in [i0, i1). */
export function adamApply(x: usize, mv: usize, out: usize, n: i32, i0: i32, i1: i32, c1: f32, c2: f32, eps: f32, negLr: f32): void {
  const vOff = <usize>n << 2;
  const C1 = f32x4.splat(c1), C2 = f32x4.splat(c2), E = f32x4.splat(eps), L = f32x4.splat(negLr);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    const m = f32x4.div(v128.load(mv + o), C1);
    const v = f32x4.div(v128.load(mv + vOff + o), C2);
    v128.store(out + o, f32x4.add(f32x4.mul(f32x4.div(m, f32x4.add(f32x4.sqrt(v), E)), L), v128.load(x + o)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    const m = load<f32>(mv + o) / c1;
    const v = load<f32>(mv + vOff + o) / c2;
    store<f32>(out + o, (m / (sqrt<f32>(v) + eps)) * negLr + load<f32>(x + o));
  }
}

/** dst[b, c, r] = src[b, r, c] for the matrices b in [b0, b1), each rows × cols; 4×4 blocks in registers. */
export function transpose(src: usize, dst: usize, b0: i32, b1: i32, rows: i32, cols: i32): void {
  const r4 = rows & ~3, c4 = cols & ~3;
  const rowBytes = <usize>cols << 2, colBytes = <usize>rows << 2;
  for (let b = b0; b < b1; b++) {
    const s = src + (<usize>(b * rows * cols) << 2);
    const d = dst + (<usize>(b * rows * cols) << 2);
    for (let r = 0; r < r4; r += 4) {
      for (let c = 0; c < c4; c += 4) {
        const p = s + (<usize>(r * cols + c) << 2);
        const x0 = v128.load(p), x1 = v128.load(p + rowBytes), x2 = v128.load(p + 2 * rowBytes), x3 = v128.load(p + 3 * rowBytes);
        const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
        const t1 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
        const t2 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
        const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
        const q = d + (<usize>(c * rows + r) << 2);
        v128.store(q, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
        v128.store(q + colBytes, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
        v128.store(q + 2 * colBytes, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
        v128.store(q + 3 * colBytes, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
      }
      for (let c = c4; c < cols; c++) {
        for (let k = r; k < r + 4; k++) store<f32>(d + (<usize>(c * rows + k) << 2), load<f32>(s + (<usize>(k * cols + c) << 2)));
      }
    }
    for (let r = r4; r < rows; r++) {
      for (let c = 0; c < cols; c++) store<f32>(d + (<usize>(c * rows + r) << 2), load<f32>(s + (<usize>(r * cols + c) << 2)));
    }
  }
}

/**
 * out[m, n] = Σ_k aT[k, m]·b[k, n] for m in [m0, m1): a product whose inner size K is small (a dense
 * layer's weight gradient, K = batch). b (K × N) stays in L1; aT is read as K sequential streams.
 */
export function matMulAT(aT: usize, b: usize, out: usize, M: i32, K: i32, N: i32, m0: i32, m1: i32): void {
  const n4 = N & ~3;
  const rowB = <usize>N << 2;
  for (let m = m0; m < m1; m++) {
    const o = out + (<usize>(m * N) << 2);
    let n = 0;
    for (; n < n4; n += 4) {
      let acc = f32x4.splat(0);
      let ap = aT + (<usize>m << 2);
      let bp = b + (<usize>n << 2);
      for (let k = 0; k < K; k++) {
        acc = f32x4.add(acc, f32x4.mul(f32x4.splat(load<f32>(ap)), v128.load(bp)));
        ap += <usize>M << 2;
        bp += rowB;
      }
      v128.store(o + (<usize>n << 2), acc);
    }
    for (; n < N; n++) {
      let acc: f32 = 0;
      for (let k = 0; k < K; k++) acc += load<f32>(aT + (<usize>(k * M + m) << 2)) * load<f32>(b + (<usize>(k * N + n) << 2));
      store<f32>(o + (<usize>n << 2), acc);
    }
  }
}

/**
 * out[m, n] = Σ_k a[m, k]·bT[n, k] for n in [n0, n1): a product with few rows M (a dense layer's
 * input gradient, M = batch). a (M × K) stays in L1; each row of bT is read once.
 */
export function matMulBT(a: usize, bT: usize, out: usize, M: i32, K: i32, N: i32, n0: i32, n1: i32): void {
  const k4 = K & ~3;
  for (let n = n0; n < n1; n++) {
    const bp = bT + (<usize>(n * K) << 2);
    for (let m = 0; m < M; m++) {
      const ap = a + (<usize>(m * K) << 2);
      let acc = f32x4.splat(0);
      let k = 0;
      for (; k < k4; k += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(ap + (<usize>k << 2)), v128.load(bp + (<usize>k << 2))));
      let s: f32 = (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
      for (; k < K; k++) s += load<f32>(ap + (<usize>k << 2)) * load<f32>(bp + (<usize>k << 2));
      store<f32>(out + (<usize>(m * N + n) << 2), s);
    }
  }
}
