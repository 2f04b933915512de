/** Small dense linear algebra in float64 for the OOD scorers (d up to a few thousand). */

/** In-place Cholesky factorisation of a symmetric positive definite d×d matrix (lower triangle). */
export function cholesky(a: Float64Array, d: number): Float64Array {
  const l = new Float64Array(d * d);
  for (let j = 0; j < d; j++) {
    let s = a[j * d + j];
    const lj = j * d;
    for (let k = 0; k < j; k++) s -= l[lj + k] * l[lj + k];
    if (!(s > 0)) throw new Error(`covariance is not positive definite (pivot ${j} = ${s}); increase the shrinkage`);
    const djj = Math.sqrt(s);
    l[lj + j] = djj;
    for (let i = j + 1; i < d; i++) {
      const li = i * d;
      let t = a[li + j];
      for (let k = 0; k < j; k++) t -= l[li + k] * l[lj + k];
      l[li + j] = t / djj;
    }
  }
  return l;
}

/** Inverse of a symmetric positive definite matrix through its Cholesky factor. */
export function spdInverse(a: Float64Array, d: number): Float64Array {
  const l = cholesky(a, d);
  // Inverse of L (lower triangular), then A^-1 = L^-T L^-1.
  const li = new Float64Array(d * d);
  for (let j = 0; j < d; j++) {
    li[j * d + j] = 1 / l[j * d + j];
    for (let i = j + 1; i < d; i++) {
      let s = 0;
      for (let k = j; k < i; k++) s -= l[i * d + k] * li[k * d + j];
      li[i * d + j] = s / l[i * d + i];
    }
  }
  const inv = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = i; k < d; k++) s += li[k * d + i] * li[k * d + j];
      inv[i * d + j] = s;
      inv[j * d + i] = s;
    }
  }
  return inv;
}
