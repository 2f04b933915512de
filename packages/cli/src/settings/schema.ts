// The one home of every setting: each option of each command and each environment variable, with its
// type, allowed values, default, per-architecture override, check, flag, environment name and doc
// (in the spirit of Ultralytics' cfg/default.yaml). The CLIs build their commander options from it
// (commander.ts), training resolves and checks its options from it (resolve.ts), environment
// variables are read through it once (env.ts), and the README's option and environment tables are
// generated from it (docs.ts; `pnpm settings:docs` rewrites them, a test fails when they are stale).
//
// Adding an option: one entry in its command's group below (plus its test). Adding an environment
// variable: one entry in ENV_SETTINGS, then read it with `envSetting('NAME')`.
import { bool, choice, int, list, num, pathSetting, str, type Setting } from './setting';

// ---- allowed values that other packages type their code with (one list each) ----

export const BACKEND_NAMES = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];
export const TRAIN_MODE_NAMES = ['scratch', 'extract', 'finetune'] as const;
/** Other spellings the --mode flag accepts. */
export const TRAIN_MODE_ALIAS_NAMES = ['feature-extraction', 'fine-tune'] as const;
export const AUGMENT_NAMES = ['study', 'size-preserving', 'texture', 'none'] as const;
export type AugmentName = (typeof AUGMENT_NAMES)[number];
export const FIT_POLICIES = ['cover', 'contain'] as const;
/** Per-photo light normalisation before the network (data/src/light-norm.ts): none, or each channel's paper level to a fixed grey. */
export const LIGHT_NORM_NAMES = ['none', 'paper'] as const;
export type LightNormName = (typeof LIGHT_NORM_NAMES)[number];
export const LR_SCHEDULES = ['constant', 'cosine'] as const;
export type LrScheduleName = (typeof LR_SCHEDULES)[number];
/** Where the forward pass runs: ONNX Runtime, tfjs, or auto (ONNX Runtime on the CPU where it loads). */
export const ENGINE_NAMES = ['auto', 'onnx', 'tfjs'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];
export const EVAL_SPLITS = ['test', 'val', 'train'] as const;
export const ROBUSTNESS_GRIDS = ['quick', 'full', 'off'] as const;

/** Perceptual similarity at which photos of one class count as near-copies kept on one side of a split. */
export const DEFAULT_GROUP_THRESHOLD = 0.6;

/** Share of known validation photos the unknown detector accepts unless told otherwise. */
export const DEFAULT_ACCEPT_RATE = 0.95;

// ---- settings shared by several commands ----

const backend = choice(BACKEND_NAMES, { flag: '--backend <b>', default: 'auto', doc: 'compute backend' });
const seed = int({ flag: '--seed <n>', default: 42, doc: 'random seed' });

const verbose = bool({ flag: '--verbose', env: 'PARTS_VERBOSE', default: false, doc: 'also print internals (backend kernels registered, each skipped backend\'s full error)' });
const unknownThreshold = num({ flag: '--unknown-threshold <x>', doc: "accept a photo as known when its OOD score >= x (replaces ood.json's threshold)" });
const unknown = bool({ flag: '--unknown', negate: { flag: '--no-unknown', doc: 'plain classification: ignore ood.json (never unknown, uncalibrated probabilities)' }, default: true, doc: 'answer "unknown" as ood.json says' });
const acceptRate = num({
  flag: '--accept-rate <r>',
  default: DEFAULT_ACCEPT_RATE,
  gt: 0,
  max: 1,
  rule: 'a number in (0, 1]: the share of known photos the OOD threshold is set to accept',
  doc: 'share of known photos the out-of-distribution threshold (model/ood.json) is set to accept, on the validation photos (with many of them: at least this share of new ones, with 95% confidence)',
});
const engine = choice(ENGINE_NAMES, { flag: '--engine <e>', default: 'auto', doc: 'forward pass: onnx (ONNX Runtime), tfjs, or auto (ONNX Runtime on CPU where it loads)' });
const runsDir = pathSetting({ flag: '--out <dir>', defaultText: '<repo>/runs', doc: 'parent folder of run folders' });
const force = bool({ flag: '--force', default: false, doc: 'promote even if worse than the model in service' });
const modelDir = pathSetting({ flag: '--model <dir>', defaultText: '<repo>/packages/serve/model (the promoted model)', doc: 'model folder or run folder' });
const dbUrl = (doc: string) => str({ flag: '--db <url>', defaultText: 'none', doc });
const registryDb = dbUrl('postgres://user@host:port/db: also record this in the model registry of that database (servers started with --db pick it up)');
const workers = int({ flag: '--workers <n>', min: 0, defaultText: '1 on 2 CPUs, else CPUs - 1 up to 4', doc: 'model worker threads (0 = main thread)' });

/** `pnpm train`. Entries marked perArch may be replaced by an architecture's recipe. */
export const TRAIN_SETTINGS = {
  arch: str({ flag: '--arch <name>', defaultText: 'partsnet, with its recipe', doc: 'architecture from the registry (`pnpm train --help` lists them with their recipes)' }),
  mode: choice(TRAIN_MODE_NAMES, { flag: '--mode <mode>', defaultText: "the arch's", doc: 'training mode (also feature-extraction, fine-tune)' }),
  data: pathSetting({ flag: '--data <dir>', defaultText: 'the demo dataset, generated if missing', doc: 'dataset root <root>/<split>/<class>/<image>' }),
  epochs: int({ flag: '--epochs <n>', min: 1, default: 30, perArch: true, doc: 'maximum epochs (with the data recipe and no --epochs: set from --steps)' }),
  steps: int({
    flag: '--steps <n>',
    min: 1,
    default: 2400,
    doc: "with the data recipe and no --epochs: training length in optimizer steps; epochs = steps / batches per epoch, at most the recipe's epochs (240 for a frame-filling part or texture trained from scratch), at least 5",
  }),
  dataRecipe: bool({
    flag: '--data-recipe',
    negate: {
      flag: '--no-data-recipe',
      doc: "the architecture's recipe as it is. By default a from-scratch recipe's input size, augmentation, epochs (from --steps), silhouette OOD part and light normalisation are chosen from a look at the training photos (object or texture, resolution, count); config.json's `recipe` and the log say what and why; a flag given explicitly wins",
    },
    default: true,
    doc: 'choose input size, augmentation, epochs (from --steps), the silhouette OOD part and light normalisation from a look at the training photos (object or texture, resolution, count); each choice and its reason go to config.json and the log; a flag given explicitly wins',
  }),
  batchSize: int({ flag: '--batch-size <n>', min: 1, default: 16, doc: 'batch size' }),
  imgSize: int({ flag: '--img-size <n>', min: 16, max: 1024, defaultText: "the arch's", doc: 'input size in pixels (square)' }),
  lr: num({ flag: '--lr <x>', gt: 0, lt: 10, default: 1e-3, perArch: true, doc: 'learning rate' }),
  baseLrFactor: num({ gt: 0, max: 1, default: 0.1, doc: 'learning rate of unfrozen base layers, as a fraction of lr (fine-tuning)' }),
  seed,
  valSplit: num({ flag: '--val-split <f>', min: 0, lt: 1, default: 0.2, doc: 'fraction of train held out for validation/early stopping' }),
  groupThreshold: num({
    flag: '--group-threshold <x>',
    min: 0,
    max: 1,
    default: DEFAULT_GROUP_THRESHOLD,
    rule: 'a similarity in [0, 1] (0 = split photo by photo)',
    doc: 'perceptual similarity at which photos of one class count as near-copies and stay on one side of the generated val/test splits and CV folds; 0 = split photo by photo',
  }),
  backend,
  out: runsDir,
  weights: str({ flag: '--weights <w>', default: 'imagenet', doc: 'base weights of pretrained archs in extract/finetune mode: imagenet, none, or a Keras .h5 path' }),
  unfreeze: int({ flag: '--unfreeze <n>', min: 0, defaultText: "the arch's", doc: 'fine-tuning: number of top base layers to unfreeze' }),
  patience: int({ flag: '--patience <n>', min: 0, default: 8, perArch: true, doc: 'early-stopping patience in epochs (0 = off)' }),
  classWeights: bool({ flag: '--class-weights', negate: { flag: '--no-class-weights', doc: 'do not weight the loss by class imbalance' }, default: true, doc: 'weight the loss by class imbalance' }),
  augment: choice(AUGMENT_NAMES, {
    flag: '--augment <preset>',
    negate: { flag: '--no-augment', value: 'none', doc: 'no data augmentation (= --augment none)' },
    default: 'study',
    perArch: true,
    doc: "augmentation: study (the study's generator), size-preserving (no zoom/shear), texture (turns by 90°, flips, reflected shifts), none",
  }),
  fit: choice(FIT_POLICIES, { flag: '--fit <policy>', default: 'cover', perArch: true, doc: 'resize policy: cover = center crop, contain = letterbox' }),
  lightNorm: choice(LIGHT_NORM_NAMES, {
    flag: '--light-norm <n>',
    default: 'none',
    perArch: true,
    doc: "per-photo light normalisation, recorded with the model and applied by predict, evaluate and serve: paper = each colour channel scaled so its median (the paper) reads a fixed grey (gain 0.5-2), none = the photo as decoded. The data recipe chooses paper for one object on a plain background and none for frame-filling parts and textures",
  }),
  labelSmoothing: num({ flag: '--label-smoothing <x>', min: 0, lt: 1, default: 0, perArch: true, doc: 'label smoothing' }),
  lrSchedule: choice(LR_SCHEDULES, { flag: '--lr-schedule <s>', default: 'constant', perArch: true, doc: 'learning-rate schedule: constant, or cosine decay after a linear warm-up' }),
  warmupEpochs: int({ flag: '--warmup-epochs <n>', min: 0, default: 0, perArch: true, doc: 'cosine schedule: epochs of linear warm-up' }),
  weightDecay: num({ flag: '--weight-decay <x>', min: 0, lt: 1, default: 0, perArch: true, doc: 'decoupled (AdamW) weight decay of conv/dense kernels' }),
  averageEpochs: int({
    flag: '--average-epochs <n>',
    min: 0,
    default: 0,
    doc: "the model's weights = the mean of the last n epochs' weights, batch-norm statistics then recomputed on the training photos (0 = the best epoch's weights)",
  }),
  acceptRate,
  silhouette: bool({
    flag: '--silhouette',
    negate: { flag: '--no-silhouette', doc: 'OOD detector without its silhouette part (the shape of the main dark object on light paper): the feature scorer alone' },
    default: true,
    doc: 'fit the silhouette part of the OOD detector (left out by itself when the photos show no consistent silhouette)',
  }),
  oodLineLight: bool({
    flag: '--ood-line-light',
    default: false,
    doc: "fit the OOD detector on each photo under the line's light variants too (lamp ±30%, contrast, warm/cold casts): accepts a lamp change, but rejects fewer look-alike parts",
  }),
  oodTurns: bool({
    flag: '--ood-turns',
    default: false,
    doc: 'fit the OOD detector on each photo turned by 90°, 180° and 270° too: accepts parts that arrive turned (or a camera mounted turned), but rejects fewer look-alike parts',
  }),
  name: str({ flag: '--name <suffix>', doc: 'suffix of the run folder name' }),
  folds: int({ flag: '--folds <K>', min: 2, doc: 'stratified K-fold cross-validation on the train split: one run per fold validated on that fold, never on test; writes <out>/<timestamp>-<arch>-<mode>-cv<K>/cv.json' }),
  skipBad: bool({ flag: '--skip-bad', default: false, doc: 'skip unreadable images instead of stopping' }),
  quiet: bool({ flag: '--quiet', default: false, doc: 'no progress output' }),
  verbose,
} satisfies Record<string, Setting<any>>;

export const PREDICT_SETTINGS = {
  model: modelDir,
  json: bool({ flag: '--json', default: false, doc: 'print one JSON object per line: {file, label (null when unknown), unknown, top, probability, probabilities, ood} or {file, error}' }),
  unknownThreshold,
  unknown,
  explain: pathSetting({ flag: '--explain <dir>', doc: 'write <name>.heatmap.png and <name>.overlay.png (the evidence for the top class: contrast CAM at the Grad-CAM layer, docs/explain.md) per photo into dir' }),
  backend,
  engine,
  verbose,
} satisfies Record<string, Setting<any>>;

export const EVALUATE_SETTINGS = {
  runs: pathSetting({ flag: '--runs <dir>', defaultText: '<repo>/runs', doc: 'folder of run folders' }),
  run: list({ flag: '--run <dir>', default: [], doc: 'evaluate only this run folder (repeatable)' }),
  data: pathSetting({ flag: '--data <dir>', defaultText: "each run's training dataset", doc: 'dataset root' }),
  split: choice(EVAL_SPLITS, { flag: '--split <name>', default: 'test', doc: 'split to evaluate' }),
  out: pathSetting({ flag: '--out <dir>', defaultText: '<repo>/reports', doc: 'parent folder of report folders' }),
  backend,
  engine: choice(ENGINE_NAMES, { flag: '--engine <e>', default: 'auto', doc: 'class probabilities on onnx (ONNX Runtime), tfjs, or auto (ONNX Runtime on CPU where it loads); the other sections use tfjs' }),
  robustness: choice(ROBUSTNESS_GRIDS, {
    flag: '--robustness <grid>',
    default: 'quick',
    doc: "accuracy under shifts: quick = 8 shifts x levels 1 and 3 on at most 8 test photos (stratified, seeded); full = 8 shifts x 3 levels on every test photo; both add the line's light and the photo's quarter turns; off",
  }),
  gradcam: bool({ flag: '--gradcam', negate: { flag: '--no-gradcam', doc: 'no Grad-CAM overlays of the misclassified photos in the report' }, default: true, doc: 'Grad-CAM overlays of the misclassified photos in the report' }),
  report: bool({ flag: '--report', negate: { flag: '--no-report', doc: 'do not write a report folder' }, default: true, doc: 'write a report folder' }),
  promote: bool({ flag: '--promote', default: false, doc: 'promote the best run to packages/serve/model (only with --split test; runs evaluated on other data than their own are not considered)' }),
  force: bool({ flag: '--force', default: false, doc: 'with --promote: promote even if worse than the model in service' }),
  check: bool({ flag: '--check', default: false, doc: "fail (exit 1) when a run's own test accuracy is below the baseline minus one test image (only with --split test)" }),
  baseline: pathSetting({ flag: '--baseline <file>', defaultText: '<repo>/evaluation/baseline.json', doc: 'baseline for --check' }),
  oodData: pathSetting({ flag: '--ood-data <dir>', defaultText: '../shared/datasets/<dataset> beside the repo', doc: "with --check: the source dataset of the baseline's leave-classes-out tasks" }),
  learningCurve: bool({
    flag: '--learning-curve',
    default: false,
    doc: 'instead of evaluating runs: train the default recipe on nested seeded subsets of --data (--curve-sizes photos per class, then all), score each on the test split, fit acc = a - b*n^-c and write reports/learning-curve-<timestamp>/',
  }),
  curveSizes: str({ flag: '--curve-sizes <n,...>', default: '10,25,50,100', doc: 'with --learning-curve: photos per class of the subsets (the whole train split is added)' }),
  curveRuns: pathSetting({ flag: '--curve-runs <dir>', defaultText: '<repo>/runs/learning-curve', doc: 'with --learning-curve: parent folder of its run folders' }),
  seed: int({ flag: '--seed <n>', default: 42, doc: 'with --learning-curve: seed of the subsets and of training' }),
  verbose,
} satisfies Record<string, Setting<any>>;

export const PROMOTE_SETTINGS = {
  run: pathSetting({ flag: '--run <dir>', doc: 'run folder to promote (evaluated on its own test split first if it has no evaluation.json)' }),
  runs: pathSetting({ flag: '--runs <dir>', defaultText: '<repo>/runs', doc: 'without --run: folder of evaluated run folders' }),
  rollback: bool({ flag: '--rollback', default: false, doc: 'swap packages/serve/model with model.prev' }),
  force,
  parity: bool({ flag: '--parity', negate: { flag: '--no-parity', doc: 'do not record the parity photos (when the test photos are gone): the server then serves the model unchecked' }, default: true, doc: 'record the parity photos' }),
  target: pathSetting({ flag: '--target <dir>', defaultText: '<repo>/packages/serve/model', doc: 'served model folder' }),
  backend: choice(BACKEND_NAMES, { flag: '--backend <b>', default: 'auto', doc: 'compute backend for evaluation and the parity record' }),
  db: registryDb,
  verbose,
} satisfies Record<string, Setting<any>>;

export const STUDY_SETTINGS = {
  data: pathSetting({ flag: '--data <dir>', defaultText: 'the demo dataset datasets/demo, generated if missing', doc: 'dataset root' }),
  weights: str({ flag: '--weights <w>', default: 'imagenet', doc: 'weights of the pretrained bases: imagenet, none, or a .h5 path' }),
  epochs: int({ flag: '--epochs <n>', min: 1, defaultText: "each arch's recipe", doc: 'maximum epochs per run' }),
  imgSize: int({ flag: '--img-size <n>', min: 1, defaultText: "each arch's", doc: 'input size in pixels' }),
  batchSize: int({ flag: '--batch-size <n>', min: 1, defaultText: '16', doc: 'batch size' }),
  seed: int({ flag: '--seed <n>', defaultText: '42', doc: 'random seed (an integer)' }),
  backend,
  only: list({ flag: '--only <cells>', doc: 'subset of the grid, e.g. tinyvgg:scratch,vgg16:extract' }),
  out: runsDir,
  reports: pathSetting({ flag: '--reports <dir>', defaultText: '<repo>/reports', doc: 'parent folder of report folders' }),
  promote: bool({ flag: '--promote', negate: { flag: '--no-promote', doc: 'do not promote the best run' }, default: true, doc: 'promote the best run' }),
  force,
  verbose: bool({ flag: '--verbose', env: 'PARTS_VERBOSE', default: false, doc: "show each training's own progress output" }),
} satisfies Record<string, Setting<any>>;

export const OOD_STUDY_SETTINGS = {
  data: pathSetting({ flag: '--data <dir>', doc: 'dataset with at least 4 classes (required)' }),
  leaveOut: list({ flag: '--leave-out <a,b>', default: [], doc: 'classes left out of one rotation (repeat for more rotations)' }),
  run: list({ flag: '--run <i=dir>', default: [], doc: 'reuse a run trained on rotation i (repeatable)' }),
  arch: str({ flag: '--arch <name>', default: 'partsnet', doc: 'architecture of new runs' }),
  epochs: int({ flag: '--epochs <n>', min: 1, defaultText: 'the arch recipe', doc: 'epochs of new runs' }),
  seed: int({ flag: '--seed <n>', min: 1, defaultText: '42', doc: 'training seed' }),
  acceptRate: num({ flag: '--accept-rate <r>', default: DEFAULT_ACCEPT_RATE, gt: 0, max: 1, doc: 'share of known photos the threshold is set to accept, on the validation photos (as training sets it)' }),
  work: pathSetting({ flag: '--work <dir>', defaultText: '<tmp>/parts-ood-study', doc: 'folder for the rotation datasets and runs' }),
  out: pathSetting({ flag: '--out <file>', default: 'ood-study.json', doc: 'result JSON' }),
  backend,
  verbose,
} satisfies Record<string, Setting<any>>;

const metricsToken = str({
  flag: '--metrics-token <token>',
  env: 'PARTS_METRICS_TOKEN',
  secret: true,
  doc: 'a Bearer token (16+ characters) that may read /metrics from beyond this machine; prefer the environment variable (a flag shows in ps)',
});
const accessDataDir = pathSetting({ flag: '--data-dir <dir>', defaultText: 'var/ beside the served model folder', doc: "the server's data folder, whose database holds the keys and accounts (serve's --data-dir)" });

export const SERVE_SETTINGS = {
  model: pathSetting({ flag: '--model <dir>', defaultText: '<repo>/packages/serve/model', doc: 'model folder or run folder' }),
  host: str({ flag: '--host <host>', default: '127.0.0.1', doc: 'address to listen on' }),
  port: int({ flag: '--port <n>', min: 0, max: 65535, default: 8080, doc: 'port (0 = any free port)' }),
  maxBytes: int({ flag: '--max-bytes <n>', min: 1, default: 10 * 1024 * 1024, doc: 'largest request body in bytes' }),
  maxPixels: int({ flag: '--max-pixels <n>', min: 1, default: 50_000_000, doc: 'largest image in pixels (width x height)' }),
  queue: int({ flag: '--queue <n>', min: 0, default: 16, doc: 'requests that may wait for the model before 503' }),
  workers,
  backend,
  unknownThreshold: num({ flag: '--unknown-threshold <x>', doc: "answer unknown below this OOD score (replaces ood.json's threshold)" }),
  unknown,
  explainMaxSide: int({ flag: '--explain-max-side <px>', min: 16, default: 512, doc: 'longest side of the ?explain=1 overlay' }),
  watchMs: int({ flag: '--watch-ms <n>', min: 0, default: 1000, doc: 'poll interval of the model folder for hot swap (0 = off)' }),
  engine: choice(ENGINE_NAMES, { flag: '--engine <e>', default: 'auto', doc: 'forward pass: onnx (ONNX Runtime, one slot on every core; --workers unused), tfjs, or auto (ONNX Runtime on CPU where it loads)' }),
  threads: int({ flag: '--threads <n>', min: 1, defaultText: 'the cores', doc: 'ONNX Runtime intra-op threads' }),
  dataDir: pathSetting({ flag: '--data-dir <dir>', defaultText: 'var/ beside the model folder', doc: 'prediction log folder (log.sqlite, which holds the logged photos; a cache of photo files; jobs)' }),
  keepDays: num({ flag: '--keep-days <n>', gt: 0, defaultText: 'kept', doc: 'prune unreviewed predictions older than this many days (reviewed photos are kept)' }),
  logMaxMb: num({ flag: '--log-max-mb <n>', gt: 0, defaultText: 'no cap', doc: 'cap on the logged photos in MB; past it the oldest unreviewed go first' }),
  log: bool({ flag: '--log', negate: { flag: '--no-log', doc: 'do not record predictions (no review queue)' }, default: true, doc: 'record every answered prediction (photo, decision, source) for the review queue' }),
  driftWindow: int({ flag: '--drift-window <n>', min: 1, default: 200, doc: 'drift alarm: the last n answers whose unknown rate is tested against what validation predicts' }),
  driftP: num({ flag: '--drift-p <p>', gt: 0, lt: 1, default: 0.001, doc: 'drift alarm: fires when the one-sided binomial p-value of the window\'s unknown count is below p' }),
  db: str({ flag: '--db <url>', defaultText: 'SQLite in --data-dir', doc: 'postgres://user@host:port/db: the prediction log, its photos, the review decisions and the model registry in one PostgreSQL database several servers share; the promoted model comes from it' }),
  dbPoll: num({ flag: '--db-poll <s>', gt: 0, default: 30, doc: 'with --db: seconds between checks of the model registry besides LISTEN/NOTIFY' }),
  modelCache: pathSetting({ flag: '--model-cache <dir>', defaultText: '<data-dir>/models', doc: 'with --db: local folder the promoted models are copied into from the database' }),
  keyRate: num({ flag: '--key-rate <n>', gt: 0, default: 600, doc: 'requests per minute each API key may make (token bucket; past it 429 with Retry-After); also each address on the --open-page' }),
  keyBurst: int({ flag: '--key-burst <n>', min: 1, default: 60, doc: 'requests an API key may make at once before --key-rate applies' }),
  openPage: bool({ flag: '--open-page', default: false, doc: 'anyone may use the upload page and predict (POST /api/predict, GET /api/model) without a key or login' }),
  insecureNoAuth: bool({ flag: '--insecure-no-auth', default: false, doc: 'allow listening beyond loopback with no API keys or reviewer accounts (anyone who reaches the port may use the API; prints a warning)' }),
  metricsToken,
  trustProxy: str({ flag: '--trust-proxy <list>', doc: "comma-separated addresses of reverse proxies (or 'loopback') whose X-Forwarded-For and X-Forwarded-Proto are believed" }),
  sessionHours: num({ flag: '--session-hours <h>', gt: 0, default: 12, doc: 'how long a reviewer login lasts' }),
  verbose,
} satisfies Record<string, Setting<any>>;

const accessDb = str({ flag: '--db <url>', defaultText: 'SQLite in --data-dir', doc: 'postgres://user@host:port/db: the database of pnpm serve --db, whose keys and accounts every server on it uses' });

export const KEYS_SETTINGS = {
  dataDir: accessDataDir,
  db: accessDb,
  verbose,
} satisfies Record<string, Setting<any>>;

export const USERS_SETTINGS = {
  dataDir: accessDataDir,
  db: accessDb,
  passwordStdin: bool({ flag: '--password-stdin', default: false, doc: 'read the password from standard input (its first line) instead of asking on the terminal' }),
  verbose,
} satisfies Record<string, Setting<any>>;

export const BENCH_SETTINGS = {
  backend: str({ flag: '--backend <list>', defaultText: 'the one auto picks, then wasm and cpu', doc: "comma-separated backends to measure; 'onnx' measures ONNX Runtime's forward pass, 'wasm-plain' wasm without the oneDNN kernels" }),
  arch: str({ flag: '--arch <list>', default: 'tinyvgg', doc: "comma-separated architectures, or 'all'" }),
  imgSize: int({ flag: '--img-size <n>', min: 16, default: 256, doc: 'input size' }),
  batch: int({ flag: '--batch <n>', min: 1, default: 8, doc: 'batch size (the pure-JS cpu backend uses 1)' }),
  seconds: num({ flag: '--seconds <x>', gt: 0, default: 3, doc: 'time per measurement' }),
  data: pathSetting({ flag: '--data <dir>', defaultText: '../shared/datasets/parts, else the demo data', doc: 'photos for the decode benchmark' }),
  peer: choice(['torch'] as const, { flag: '--peer <name>', doc: "also measure a peer on the same models in the same run and print the ratios: 'torch' (PyTorch CPU)" }),
  peerThreads: int({ flag: '--peer-threads <n>', min: 1, defaultText: 'every CPU', doc: 'threads for the peer' }),
  ghz: num({ flag: '--ghz <x>', gt: 0, defaultText: '/proc/cpuinfo, the nominal clock', doc: 'CPU clock for the SIMD peak (a turbo clock above it shows as more than 100%)' }),
  repeat: int({ flag: '--repeat <n>', min: 1, default: 1, doc: 'measure each model n times (alternating with the peer) and keep the best figure of each side: on a shared machine the best run is the least disturbed one' }),
  json: bool({ flag: '--json', default: false, doc: 'one JSON object per line' }),
  verbose,
} satisfies Record<string, Setting<any>>;

export const BENCH_SERVE_SETTINGS = {
  model: pathSetting({ flag: '--model <dir>', defaultText: '<repo>/packages/serve/model', doc: 'model folder or run folder' }),
  image: pathSetting({ flag: '--image <file>', defaultText: 'the first of the photos', doc: "the image of the bare model's timing" }),
  photos: list({
    flag: '--photos <dirs>',
    defaultText: '../shared/datasets/parts,../shared/datasets/bolts-nuts; generated demo photos when absent',
    doc: 'folders of JPEG photos the requests rotate through (up to 64; each request made a distinct photo, so the log stores one per request)',
  }),
  duration: num({ flag: '--duration <s>', min: 1, default: 10, doc: 'seconds of load' }),
  connections: int({ flag: '--connections <n>', min: 1, default: 8, doc: 'concurrent connections' }),
  workers: int({ flag: '--workers <n>', min: 0, defaultText: workers.defaultText, doc: 'model worker threads of the server (0 = main thread)' }),
  backend,
  iterations: int({ flag: '--iterations <n>', min: 1, default: 30, doc: 'bare predict calls timed' }),
  engines: str({ flag: '--engines <list>', default: 'tfjs,onnx', doc: 'serve engines to load, each in its own process, in this order (comma-separated)' }),
  logRounds: int({ flag: '--log-rounds <n>', min: 0, default: 4, doc: 'pairs of runs of the first engine without and with the prediction log, interleaved (0 = no log comparison)' }),
  verbose,
} satisfies Record<string, Setting<any>>;

/** `pnpm bench:fleet`: 1 and N serve replicas behind nginx, side by side in one run. */
export const BENCH_FLEET_SETTINGS = {
  model: pathSetting({ flag: '--model <dir>', defaultText: '<repo>/packages/serve/model', doc: 'model folder or run folder' }),
  image: pathSetting({ flag: '--image <file>', defaultText: '../shared/datasets/parts/test/big/m12_bolt_03.jpg', doc: 'the image every request sends' }),
  replicas: int({ flag: '--replicas <n>', min: 2, default: 3, doc: 'replicas of the fleet measured beside one replica' }),
  duration: num({ flag: '--duration <s>', min: 1, default: 15, doc: 'seconds of load per measurement' }),
  connections: int({ flag: '--connections <n>', min: 1, default: 16, doc: 'concurrent connections to nginx' }),
  rounds: int({ flag: '--rounds <n>', min: 1, default: 2, doc: 'measurements of each fleet size, alternated (1, N, 1, N, ...)' }),
  workers: int({ flag: '--workers <n>', min: 0, defaultText: 'pnpm serve\'s', doc: 'model worker threads of each replica (0 = main thread)' }),
  engine: choice(ENGINE_NAMES, { flag: '--engine <e>', default: 'auto', doc: 'forward pass of each replica: onnx, tfjs or auto, as pnpm serve' }),
  threads: int({ flag: '--threads <n>', min: 1, defaultText: 'the cores', doc: 'ONNX Runtime intra-op threads of each replica' }),
  backend,
  verbose,
} satisfies Record<string, Setting<any>>;

export const DATA_CHECK_SETTINGS = {
  data: pathSetting({ flag: '--data <dir>', defaultText: 'the demo dataset, generated if missing', doc: 'dataset root (<root>/<split>/<class>/<image>)' }),
  skipBad: bool({ flag: '--skip-bad', default: false, doc: 'skip and list unreadable files instead of failing' }),
  json: bool({ flag: '--json', default: false, doc: 'print the report as JSON' }),
  valSplit: num({ flag: '--val-split <fraction>', min: 0, lt: 1, default: 0, doc: 'validation fraction carved from train when there is no val folder' }),
  seed,
  nearDupThreshold: num({ flag: '--near-dup-threshold <x>', gt: 0, max: 1, default: 0.9, doc: 'similarity in (0, 1] at which images count as near-duplicates' }),
  verbose,
} satisfies Record<string, Setting<any>>;

export const DATASET_DEMO_SETTINGS = {
  out: pathSetting({ flag: '--out <dir>', defaultText: '<repo>/datasets/demo, or $PARTS_DEMO_DIR', doc: 'output folder' }),
  seed: int({ flag: '--seed <n>', default: 1, doc: 'seed' }),
  trainPerClass: int({ flag: '--train-per-class <n>', min: 1, defaultText: '27 big / 13 small', doc: 'train images per class' }),
  testPerClass: int({ flag: '--test-per-class <n>', min: 1, defaultText: '13 big / 7 small', doc: 'test images per class' }),
  width: int({ flag: '--width <px>', min: 32, max: 8192, default: 640, doc: 'image width' }),
  height: int({ flag: '--height <px>', min: 32, max: 8192, default: 480, doc: 'image height' }),
  verbose,
} satisfies Record<string, Setting<any>>;

export const DIAGNOSE_SETTINGS = {
  json: bool({ flag: '--json', default: false, doc: 'print the report as one JSON object: {ok, backend, checks: [{id, title, verdict, summary, fix, required, details}]}' }),
  verbose,
} satisfies Record<string, Setting<any>>;

const versionsRoot = pathSetting({ flag: '--root <dir>', defaultText: '<repo>/datasets/versions', doc: 'folder of dataset versions' });

export const DATASET_SETTINGS = {
  root: versionsRoot,
  base: pathSetting({ flag: '--base <dir>', defaultText: 'the base of the newest version', doc: 'base dataset (<base>/<split>/<class>/<image> with a test folder)' }),
  reviewed: pathSetting({ flag: '--reviewed <file>', defaultText: 'the base alone', doc: 'JSON list of reviewed photo records {hash, file, label, reviewer, reviewedAt, ...}' }),
  verbose,
} satisfies Record<string, Setting<any>>;

export const RETRAIN_SETTINGS = {
  root: versionsRoot,
  version: int({ flag: '--version <n>', min: 1, defaultText: 'the newest', doc: 'train on this dataset version' }),
  reviewed: pathSetting({ flag: '--reviewed <file>', doc: 'first build a new dataset version with these reviewed photo records (JSON list)' }),
  dataDir: pathSetting({ flag: '--data-dir <dir>', doc: "first build a new dataset version with the photos reviewed in this prediction log folder (pnpm serve's --data-dir)" }),
  base: pathSetting({ flag: '--base <dir>', defaultText: "the base of the newest version, else the served model's training dataset", doc: 'with --reviewed or --data-dir: the base dataset' }),
  target: pathSetting({ flag: '--target <dir>', defaultText: '<repo>/packages/serve/model', doc: 'served model folder' }),
  runs: pathSetting({ flag: '--runs <dir>', defaultText: '<repo>/runs', doc: "where the candidate's run folder goes" }),
  parity: bool({ flag: '--parity', negate: { flag: '--no-parity', doc: 'promote without recording the parity photos' }, default: true, doc: 'record the parity photos at promotion' }),
  json: bool({ flag: '--json', default: false, doc: 'print the whole report as JSON on stdout' }),
  db: dbUrl("postgres://user@host:port/db: the prediction log of --data-dir is in that database (pnpm serve --db), and a promotion is recorded in its model registry"),
  backend,
  verbose,
} satisfies Record<string, Setting<any>>;

export const ROLLBACK_SETTINGS = {
  to: str({ flag: '--to <id>', defaultText: 'the previous model (model.prev)', doc: 'model (run) id from the history (see --list)' }),
  list: bool({ flag: '--list', default: false, doc: 'list the models kept in the history and the promotion events' }),
  target: pathSetting({ flag: '--target <dir>', defaultText: '<repo>/packages/serve/model', doc: 'served model folder' }),
  db: registryDb,
  verbose,
} satisfies Record<string, Setting<any>>;

export const EXPORT_SETTINGS = {
  format: choice(['onnx'] as const, { flag: '--format <f>', doc: 'file format (required)' }),
  model: modelDir,
  out: pathSetting({ flag: '--out <file>', defaultText: 'model.onnx in the model folder', doc: 'where to write' }),
  verbose,
} satisfies Record<string, Setting<any>>;

/** Every command's settings, by the name `pnpm <name>` runs. */
export const COMMAND_SETTINGS = {
  train: TRAIN_SETTINGS,
  predict: PREDICT_SETTINGS,
  evaluate: EVALUATE_SETTINGS,
  promote: PROMOTE_SETTINGS,
  study: STUDY_SETTINGS,
  'ood-study': OOD_STUDY_SETTINGS,
  serve: SERVE_SETTINGS,
  bench: BENCH_SETTINGS,
  'bench:serve': BENCH_SERVE_SETTINGS,
  'bench:fleet': BENCH_FLEET_SETTINGS,
  'data:check': DATA_CHECK_SETTINGS,
  'dataset:demo': DATASET_DEMO_SETTINGS,
  diagnose: DIAGNOSE_SETTINGS,
  dataset: DATASET_SETTINGS,
  retrain: RETRAIN_SETTINGS,
  rollback: ROLLBACK_SETTINGS,
  export: EXPORT_SETTINGS,
  keys: KEYS_SETTINGS,
  users: USERS_SETTINGS,
} as const;
export type CommandName = keyof typeof COMMAND_SETTINGS;

/**
 * Every environment variable the code reads, by name. Product settings first; `scope: 'dev'` ones
 * only matter to tests, benchmarks and kernel development.
 */
export const ENV_SETTINGS = {
  PARTS_VERBOSE: verbose,
  PARTS_CACHE_DIR: pathSetting({ env: 'PARTS_CACHE_DIR', defaultText: '$XDG_CACHE_HOME/parts-classifier, else ~/.cache/parts-classifier', doc: 'cache of downloaded ImageNet weights and tuned GPU kernels' }),
  PARTS_DEMO_DIR: pathSetting({ env: 'PARTS_DEMO_DIR', defaultText: '<repo>/datasets/demo', doc: 'where the demo dataset is generated and read' }),
  PARTS_FONT_DIR: pathSetting({ env: 'PARTS_FONT_DIR', doc: 'extra folder of .ttf/.otf/.woff2 fonts for the report charts' }),
  PARTS_WASM_THREADS: int({ env: 'PARTS_WASM_THREADS', min: 1, defaultText: 'every logical CPU (at most 8)', doc: 'threads of the wasm backend (1 = the single-threaded SIMD build)' }),
  PARTS_WASM_SIMD_KERNELS: bool({ env: 'PARTS_WASM_SIMD_KERNELS', default: true, doc: "the project's own wasm SIMD kernels (0 = tfjs' JavaScript fallbacks)" }),
  PARTS_ONEDNN: bool({ env: 'PARTS_ONEDNN', default: true, doc: 'oneDNN kernels (the native addon, where built) for the wasm backend\'s convolutions, dense products and max-pool gradient (0 = the wasm kernels)' }),
  PARTS_ONEDNN_WINOGRAD: bool({ env: 'PARTS_ONEDNN_WINOGRAD', default: true, doc: "with the oneDNN kernels, 3×3 stride-1 convolutions whose channels are multiples of 16 run as Winograd F(4,3) where oneDNN has it (AVX-512) (0 = direct convolutions only)", scope: 'dev' }),
  PARTS_TORCH_PYTHON: pathSetting({ env: 'PARTS_TORCH_PYTHON', defaultText: 'python3, else /usr/bin/python3', doc: 'Python with PyTorch for `pnpm bench --peer torch`' }),
  PARTS_METRICS_TOKEN: metricsToken,
  PARTS_VULKAN_PROBE: bool({ env: 'PARTS_VULKAN_PROBE', default: true, doc: 'look for the Vulkan loader and a driver before starting Dawn (0 = let Dawn look for Vulkan itself)' }),
  PARTS_DAWN_FLAGS: str({ env: 'PARTS_DAWN_FLAGS', doc: "extra Dawn instance flags separated by ';'", scope: 'dev' }),
  PARTS_TFJS_FLAGS: str({ env: 'PARTS_TFJS_FLAGS', doc: 'tfjs flags for the WebGPU backend, NAME=value separated by commas', scope: 'dev' }),
  PARTS_WEBGPU_KERNELS: str({ env: 'PARTS_WEBGPU_KERNELS', default: 'all', doc: "which of the project's WebGPU kernels replace tfjs' (all, stock, or a comma list of kernel names)", scope: 'dev' }),
  PARTS_WEBGPU_AUTOTUNE: bool({ env: 'PARTS_WEBGPU_AUTOTUNE', defaultText: 'on for a hardware adapter', doc: 'time the convolution kernel variants per shape and keep the fastest', scope: 'dev' }),
  PARTS_WEBGPU_TUNE_MIN_FLOPS: num({ env: 'PARTS_WEBGPU_TUNE_MIN_FLOPS', min: 0, defaultText: '2e8', doc: 'shapes under this many FLOP keep the default kernel', scope: 'dev' }),
  PARTS_WEBGPU_TUNE_CACHE: pathSetting({ env: 'PARTS_WEBGPU_TUNE_CACHE', defaultText: '<PARTS_CACHE_DIR>/webgpu-kernels.json', doc: 'file of tuned kernel choices', scope: 'dev' }),
  PARTS_CONV_CORE: str({ env: 'PARTS_CONV_CORE', doc: "WebGPU convolutions' inner loop for every op: scalar, vec4, scalarp or vec4p", scope: 'dev' }),
  PARTS_CONV_TILES: str({ env: 'PARTS_CONV_TILES', doc: 'WebGPU convolution tile per op, e.g. forward:8x8:vec4p,inputGrad:4x4 (forward:wino:16x4 = Winograd)', scope: 'dev' }),
  PARTS_WASM_INPUT_GRAD: choice(['xnnpack', 'loop', 'builtin'] as const, { env: 'PARTS_WASM_INPUT_GRAD', default: 'xnnpack', doc: 'implementation of the wasm convolution input gradient', scope: 'dev' }),
  PARTS_WASM_FILTER_GRAD: choice(['gemm', 'xnnpack', 'loop'] as const, { env: 'PARTS_WASM_FILTER_GRAD', default: 'gemm', doc: 'implementation of the wasm convolution filter gradient', scope: 'dev' }),
  PARTS_FAST: bool({ env: 'PARTS_FAST', default: false, doc: '`pnpm test:fast`: leave out the slow test files (vitest.config.ts)', scope: 'dev' }),
  PARTS_SCREENSHOTS: pathSetting({ env: 'PARTS_SCREENSHOTS', doc: 'the browser test writes its screenshots into this folder', scope: 'dev' }),
  PARTS_REQUIRE_WEBGPU: bool({ env: 'PARTS_REQUIRE_WEBGPU', default: false, doc: 'WebGPU kernel tests fail instead of skipping when no adapter is found', scope: 'dev' }),
  PARTS_BENCH_BACKEND: str({ env: 'PARTS_BENCH_BACKEND', default: 'webgpu', doc: 'backend of the WebGPU profiling script', scope: 'dev' }),
  PARTS_PROFILE_ITERS: int({ env: 'PARTS_PROFILE_ITERS', min: 1, default: 5, doc: 'steps the WebGPU profiling script times', scope: 'dev' }),
  PARTS_MICRO_ITERS: int({ env: 'PARTS_MICRO_ITERS', min: 1, default: 5, doc: 'iterations of the WebGPU kernel micro-benchmark', scope: 'dev' }),
  GRADCAM_DUMP: pathSetting({ env: 'GRADCAM_DUMP', doc: 'the real-photo Grad-CAM test writes its overlays into this folder', scope: 'dev' }),
  SERVE_SCREENSHOT: pathSetting({ env: 'SERVE_SCREENSHOT', defaultText: '<repo>/.cache/serve-page.png', doc: "where the browser test saves the upload page's screenshot", scope: 'dev' }),
  PARTS_MICRO_VARIANTS: str({ env: 'PARTS_MICRO_VARIANTS', doc: 'comma list of kernel variants the WebGPU micro-benchmark times', scope: 'dev' }),
  // Set by others, read here: pnpm's INIT_CWD (the folder the user ran `pnpm x` in), DEBUG for stack
  // traces, pnpm's user agent for `pnpm diagnose`, XDG_CACHE_HOME for the cache folder, OMP_WAIT_POLICY (set
  // here before the oneDNN addon loads unless the user chose one).
  OMP_WAIT_POLICY: str({ env: 'OMP_WAIT_POLICY', defaultText: 'PASSIVE when the oneDNN addon loads', doc: "OpenMP threads' wait policy of the oneDNN kernels (read by libgomp when it loads)" }),
  INIT_CWD: pathSetting({ env: 'INIT_CWD', defaultText: 'the current directory', doc: 'set by pnpm: the folder relative paths are taken from' }),
  DEBUG: str({ env: 'DEBUG', doc: 'print the stack of a CLI error' }),
  XDG_CACHE_HOME: pathSetting({ env: 'XDG_CACHE_HOME', defaultText: '~/.cache', doc: 'user cache folder (absolute paths only)' }),
  npm_config_user_agent: str({ env: 'npm_config_user_agent', doc: 'set by pnpm/npm: the package manager that runs the script (`pnpm diagnose`)' }),
} satisfies Record<string, Setting<any>>;
export type EnvName = keyof typeof ENV_SETTINGS;

/** Training settings an architecture's recipe may replace (ArchSpec.recipe). */
export type PerArchKey = { [K in keyof typeof TRAIN_SETTINGS]: (typeof TRAIN_SETTINGS)[K] extends { perArch: true } ? K : never }[keyof typeof TRAIN_SETTINGS];
