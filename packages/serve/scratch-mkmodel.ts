import { initBackend } from '@parts/backend';
import { makeModel } from './test/fixtures';
await initBackend('cpu', () => {});
await makeModel(process.argv[2]!, { runId: 'bench-tiny', imgSize: Number(process.argv[3] ?? 64) });
