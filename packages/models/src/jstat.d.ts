// The part of jstat (a CommonJS module that ships no types) that threshold.ts uses.
declare module 'jstat' {
  const jstat: {
    jStat: {
      studentt: {
        /** Quantile of Student's t distribution with `dof` degrees of freedom at probability p. */
        inv(p: number, dof: number): number;
      };
    };
  };
  export default jstat;
}
