/**
 * The parity check on the slots that will serve: each slot re-classifies the parity record's
 * photos, each photo on its own as an upload is served (decoded here with decodeImage at the
 * model's size and fit, predicted by the slot), and the answers are compared with the record.
 */
import { decodeImage } from '@parts/data';
import { checkParityWith, type ClassifierMeta, type ParityCheck, type ParityRecord } from '@parts/models';
import type { Slot } from './slot';

/** The check on one slot; never throws for a mismatch or a failed prediction. */
export function checkSlotParity(slot: Slot, meta: ClassifierMeta, record: ParityRecord, photos: ReadonlyMap<string, Buffer>): Promise<ParityCheck> {
  const { imgSize, fit } = meta;
  return checkParityWith(record, photos, {
    meta,
    backend: slot.backend,
    classify: async (ps) => {
      const rows: number[][] = [];
      for (const p of ps) {
        const image = await decodeImage(p.bytes, { size: imgSize, fit, name: p.name });
        // The model's own probabilities (T = 1), as promotion recorded them: calibration is
        // ood.json's temperature applied to the same logits.
        const { modelProbabilities } = await slot.run([image]);
        rows.push(modelProbabilities[0]!);
      }
      return rows;
    },
  });
}

/**
 * The check on every slot (null entries are slots that are down and skipped): the first failing
 * slot's result, else ok with the largest difference over all slots; not ok when no slot is up.
 */
export async function checkSlotsParity(slots: readonly (Slot | null)[], meta: ClassifierMeta, record: ParityRecord, photos: ReadonlyMap<string, Buffer>): Promise<ParityCheck> {
  let worst: ParityCheck | null = null;
  for (const slot of slots) {
    if (!slot) continue;
    const check = await checkSlotParity(slot, meta, record, photos);
    if (!check.ok) return check;
    if (!worst || check.maxAbsDiff > worst.maxAbsDiff) worst = check;
  }
  return worst ?? { ok: false, photos: 0, maxAbsDiff: Number.NaN, tolerance: record.tolerance, backend: '', recordBackend: record.backend, reason: 'no model slot is up' };
}
