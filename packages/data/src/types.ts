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
}

/** A file that could not be read as an image. */
export interface BadFile {
  file: string;
  /** Full message, naming the file. */
  reason: string;
  /** DecodeError code when known ('unsupported' | 'corrupt' | 'too-large' | 'empty' | 'unreadable'). */
  code?: string;
}
