export type * from './types';
export { makeRng, shuffled } from './rng';
export { relPosix } from './paths';
export { ensureDemoDataset, dataOrDemo } from './demo-data';
export { decodeImage, probeImage, DecodeError, CONTAIN_FILL, DEFAULT_MAX_PIXELS, DECODABLE_FORMATS } from './decode';
export type { DecodeErrorCode, DecodeOptions } from './decode';
export { listDataset, stratifiedSplit, DatasetError, IMAGE_EXTENSIONS, mapLimit } from './list';
export type { ListOptions } from './list';
export { augment, applyAugment, drawAugmentParams, AUGMENT_STUDY, AUGMENT_NONE, AUGMENT_SIZE_PRESERVING, AUGMENT_TEXTURE, AUGMENT_PRESETS, LINE_LIGHT, LINE_LIGHT_VARIANTS, lineLightVariants, quarterTurnVariants } from './augment';
export type { AugmentOptions, AugmentParams, AugmentPreset, FillMode } from './augment';
export { checkDataset, formatDatasetReport, DEFAULT_NEAR_DUP_THRESHOLD } from './check';
export type { CheckOptions, DatasetReport, DuplicateGroup, NearDuplicatePair, FileRef, SizeCount } from './check';
export { cachedSignature, perceptualSignature, normalizeSignatures, nthSmallest, nearDuplicatePairs, dHash, hammingHex, SIGNATURE_SIZE, NEIGHBOUR_RANK, DISTINCTNESS_RATIO } from './similarity';
export type { Signature, SignatureCache, NearDuplicateRule, NearDuplicateResult } from './similarity';
export { signatureSimilarity, similarPairs, type SimilarPair } from './similar-pairs';
export { nearDuplicateGroups, groupsFromSignatures, groupStratifiedSplit, countGroups, DEFAULT_GROUP_THRESHOLD, GROUP_CROWD, recordedGroupCrowd } from './near-duplicate-groups';
export type { NearDuplicateGroups, GroupOptions } from './near-duplicate-groups';
export { datasetFingerprint } from './fingerprint';
export { contentHash } from './hash';
export { generateDemoDataset, DEMO_CLASSES } from './demo';
export type { DemoOptions } from './demo';
export { decodePhoto, encodeGrayPng, encodeRgbPng, encodeRgbJpeg, downscaleRgb } from './image-io';
export { applyShift, validateShifts, DEFAULT_SHIFTS, LINE_LIGHT_SHIFTS, LINE_TURN_SHIFTS, SHIFT_NAMES, SHIFT_PARAM_UNITS } from './shifts';
export type { ShiftName, ShiftSpec, ApplyShiftOptions } from './shifts';
export { farOodImage, farOodSet, blurredPhoto, darkenedPhoto, FAR_OOD_KINDS } from './far-ood';
export type { FarOodKind, FarOodSample } from './far-ood';
export { normaliseLight, paperGains, paperLevels, PAPER_LEVEL, MAX_LIGHT_GAIN } from './light-norm';
export { measureSilhouette, silhouetteVector, letterboxContent, SILHOUETTE_FEATURES, SILHOUETTE_FEATURE_NAMES, SILHOUETTE_DEFAULTS } from './silhouette';
export type { Silhouette, SilhouetteShape, SilhouetteOptions, SilhouetteFeature } from './silhouette';
export {
  buildDatasetVersion, defaultVersionsRoot, splitOfHash, listVersions, latestVersion, versionDir, readManifest, readReviewedFile, validateReviewed, formatVersionSummary,
  REVIEW_SPLIT_RULE, MANIFEST_JSON, MANIFEST_FORMAT, UNKNOWNS_DIR, NOT_A_PART, BAD_PHOTO,
} from './dataset-version';
export type { ReviewedPhoto, DatasetManifest, ManifestPhoto, BuildVersionOptions, BuiltVersion } from './dataset-version';
