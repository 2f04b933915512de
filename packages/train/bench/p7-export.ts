// Decodes bolts-nuts with the pipeline's own decoder (contain, 224) into raw uint8 for the GPU sweep.
import fs from 'node:fs';
import path from 'node:path';
import { decodeImage, listDataset } from '@parts/data';
const root = path.resolve(process.argv[2]);
const out = path.resolve(process.argv[3]);
const size = 224;
const idx = await listDataset(root, { valSplit: 0, seed: 42 });
for (const split of ['train', 'test'] as const) {
  const s = idx.splits[split];
  const buf = Buffer.alloc(s.length * size * size * 3);
  for (let i = 0; i < s.length; i++) buf.set((await decodeImage(s[i].file, { size, fit: 'contain' })).data, i * size * size * 3);
  fs.writeFileSync(path.join(out, `${split}.u8`), buf);
  fs.writeFileSync(path.join(out, `${split}.json`), JSON.stringify({ n: s.length, size, labels: s.map((x) => x.label), classes: idx.classes }));
}
