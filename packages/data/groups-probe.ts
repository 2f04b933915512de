import { listDataset } from './src/list';
import { perceptualSignature, normalizeSignatures, signatureSimilarity } from './src/similarity';
import { groupsFromSignatures } from './src/near-duplicate-groups';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
const root = process.argv[2];
const idx = await listDataset(root, { validate: false });
const tr = idx.splits.train, te = idx.splits.test;
const all = [...tr, ...te];
const raw = [];
for (const s of all) raw.push(await perceptualSignature(await readFile(s.file)));
const sig = normalizeSignatures(raw);
const T = sig.slice(0, tr.length);
for (const th of [0.5, 0.6, 0.7, 0.8, 0.9]) {
  const g = groupsFromSignatures(T, tr.map((s) => s.label), th);
  console.log(`th ${th}: ${g.count} groups of ${tr.length}, largest ${g.largest}`);
}
// test->train max sim (same class) vs train->train nearest other (same class)
const mx = (i: number, pool: number[]) => Math.max(...pool.filter((j) => j !== i).map((j) => signatureSimilarity(sig[i], sig[j])));
const trIdx = tr.map((_, i) => i);
const teIdx = te.map((_, i) => tr.length + i);
const q = (xs: number[]) => { xs.sort((a,b)=>a-b); return [0.1,0.5,0.9].map(p=>xs[Math.floor(p*(xs.length-1))].toFixed(2)).join('/'); };
console.log('train nearest-train sim (same class) p10/50/90', q(trIdx.map((i) => mx(i, trIdx.filter((j) => all[j].label === all[i].label)))));
console.log('test nearest-train sim (same class) p10/50/90', q(teIdx.map((i) => mx(i, trIdx.filter((j) => all[j].label === all[i].label)))));
console.log('test nearest-train sim (other class) p10/50/90', q(teIdx.map((i) => mx(i, trIdx.filter((j) => all[j].label !== all[i].label)))));
const g = groupsFromSignatures(T, tr.map((s) => s.label), 0.6);
const byG = new Map<number,string[]>(); tr.forEach((s,i)=>byG.set(g.groupOf[i],[...(byG.get(g.groupOf[i])??[]),path.basename(s.file)]));
console.log([...byG.values()].filter(x=>x.length>1).slice(0,12).map(x=>x.join(',')).join('\n'));
