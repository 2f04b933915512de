// The part of jstat (a CommonJS module that ships no types) that threshold.ts and its tests use.
declare module 'jstat' {
  const jstat: {
    jStat: {
      studentt: {
        /** Quantile of Student's t distribution with `dof` degrees of freedom at probability p. */
        inv(p: number, dof: number): number;
      };
      binomial: {
        /** P(X <= k) for X ~ Binomial(n, p). */
        cdf(k: number, n: number, p: number): number;
      };
      normal: {
        /** P(X <= x) for X ~ Normal(mean, sd). */
        cdf(x: number, mean: number, sd: number): number;
        /** Quantile of Normal(mean, sd) at probability p. */
        inv(p: number, mean: number, sd: number): number;
      };
      noncentralt: {
        /** P(T <= x) for the noncentral t distribution (`dof` degrees of freedom, noncentrality `ncp`); wrong for ncp above about 26. */
        cdf(x: number, dof: number, ncp: number): number;
      };
    };
  };
  export default jstat;
}
