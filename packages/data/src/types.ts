import type { FIT_POLICIES } from '@parts/cli';

/** An 8-bit RGB image, row-major HWC (length = width * height * 3). */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** How a photo is resized to the model's square input; the names are the settings schema's FIT_POLICIES. */
export type FitPolicy = (typeof FIT_POLICIES)[number];

export type SplitName = 'train' | 'val' | 'test';

export interface Sample {
  /** Absolute path of the image file. */
  file: string;
  /** Index into DatasetIndex.classes. */
  label: number;
}

export interface DatasetIndex {
  /** Absolute dataset root. */
  root: string;
  /** Sorted class folder names; label i is classes[i]. */
  classes: string[];
  splits: Record<SplitName, Sample[]>;
  /** Where each split came from: a folder on disk or a seeded stratified split. */
  splitSource: Record<SplitName, 'folder' | 'generated' | 'none'>;
  /** Unreadable files left out because of `skipBad` (absent when none). */
  skipped?: BadFile[];
  /**
   * Near-duplicate groups of the train folder that the generated splits kept on one side (present
   * when listed with a groupThreshold): the similarity threshold, the
   * number of groups in the train folder and the photos of its largest, the crowd from which pairs
   * must stand out (GroupOptions.crowd; null: every pair joined, as before the rule), and per split
   * the groups it holds (null: read from its own folder, not grouped).
   */
  groups?: { threshold: number; total: number; largest: number; crowd: number | null; counts: Record<SplitName, number | null> };
  /** Group id of every train-folder photo by file (with `groups`), for group-aware folds. */
  groupOf?: ReadonlyMap<string, number>;
}

/** A file that could not be read as an image. */
export interface BadFile {
  file: string;
  /** Full message, naming the file. */
  reason: string;
  /** DecodeError code when known ('unsupported' | 'corrupt' | 'too-large' | 'empty' | 'unreadable'). */
  code?: string;
}
