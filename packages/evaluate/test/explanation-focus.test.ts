import { describe, expect, it } from 'vitest';
import { explanationFocus, explanationFocusText, type GradCamItem } from '../src/gradcam-gallery';

const item = (focus: number | null | undefined): GradCamItem => ({ file: 'a.jpg', true: 'big', predicted: 'big', correct: true, probability: 0.9, focus });

describe('explanation focus of a gallery', () => {
  it('counts the maps with evidence at >= 1.1 and takes their median; maps without evidence or failed ones are left out', () => {
    const f = explanationFocus({ items: [item(1.3), item(1.0), item(null), item(1.1), item(undefined), item(0.9)] });
    expect(f).toEqual({ n: 4, onPart: 2, median: 1.0, min: 1.1 });
    expect(explanationFocusText({ items: [item(1.3), item(1.0), item(1.1)] })).toMatch(/^Explanation focus: 2 of 3 maps .* \(median 1\.10x;/);
  });

  it('says so when no map has evidence', () => {
    expect(explanationFocus({ items: [item(null)] })).toMatchObject({ n: 0, onPart: 0, median: null });
    expect(explanationFocusText({ items: [] })).toBe('Explanation focus: no map with evidence.');
  });
});
