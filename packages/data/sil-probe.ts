import { listDataset } from './src/list';
import { decodeImage } from './src/decode';
import { measureSilhouette } from './src/silhouette';
import { applyShift } from './src/shifts';
import { decodePhoto } from './src/image-io';
import { readFile } from 'node:fs/promises';
const root = process.argv[2]; const max = Number(process.argv[3] ?? 60);
const idx = await listDataset(root, { validate: false });
const tr = idx.splits.train.filter((_, i) => i % Math.ceil(idx.splits.train.length / max) === 0);
const med = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
const shapes = [];
for (const s of tr) shapes.push(measureSilhouette(await decodeImage(s.file, { size: 128, fit: 'contain' })).shape);
const f = shapes.filter(Boolean) as NonNullable<(typeof shapes)[0]>[];
console.log(root, `found ${f.length}/${shapes.length}`, 'clutter', med(f.map((s) => s.clutter)).toFixed(2), 'area', med(f.map((s) => s.areaFraction)).toFixed(3),
  'edge', (f.filter((s) => s.touchesEdge).length / f.length).toFixed(2), 'contrast', med(f.map((s) => s.contrast)).toFixed(2), 'paper', med(f.map((s) => s.paper)).toFixed(2),
  'elong', med(f.map((s) => s.elongation)).toFixed(2), 'dark/obj', med(f.map((s) => (s.clutter + 1) * s.areaFraction)).toFixed(3));
// brightness check on 3
for (const s of tr.slice(0, 3)) {
  const p = await decodePhoto(await readFile(s.file), s.file);
  for (const b of [1, 1.25, 0.7]) {
    const sh = await applyShift(p, 'brightness', b);
    const { encodeRgbPng } = await import('./src/image-io');
    const img = await decodeImage(await encodeRgbPng(sh), { size: 128, fit: 'contain' });
    const m = measureSilhouette(img).shape;
    console.log(b, m ? Object.entries(m).map(([k, v]) => `${k}=${typeof v === 'number' ? v.toFixed(3) : v}`).join(' ') : null);
  }
}
