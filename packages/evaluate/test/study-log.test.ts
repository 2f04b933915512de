import path from 'node:path';
import { expect, it } from 'vitest';
import { WeightsUnavailableError } from '@parts/models';
import type { TrainOptions } from '@parts/train';
import { runStudy } from '../src/study';
import { tempDir } from './helpers';

it('an offline study says what to do about missing ImageNet weights once, then one line per skipped base', async () => {
  const dir = await tempDir('parts-study-log-');
  const lines: string[] = [];
  const offline = async (o: TrainOptions): Promise<never> => {
    throw new WeightsUnavailableError(`https://example.invalid/${o.arch}.h5`, `${o.arch}_notop.h5`, '/cache', 'md5', 'getaddrinfo ENOTFOUND');
  };
  const study = await runStudy({
    data: path.join(dir, 'data'),
    weights: 'imagenet',
    out: path.join(dir, 'runs'),
    reportsOut: path.join(dir, 'reports'),
    promote: false,
    grid: [
      { arch: 'vgg16', mode: 'extract' },
      { arch: 'vgg16', mode: 'finetune' },
      { arch: 'resnet50', mode: 'extract' },
    ],
    train: offline as never,
    log: (m) => lines.push(m),
  });
  const skips = lines.filter((l) => l.includes(': skipped ('));
  expect(skips).toHaveLength(3);
  expect(skips[0]).toMatch(/^\[1\/3\] vgg16 extract: skipped \(.*\): cannot download weights file 'vgg16_notop\.h5' .*If this machine is offline/);
  expect(skips[1]).toMatch(/^\[2\/3\] vgg16 finetune: skipped \(.*\): ImageNet weights 'vgg16_notop\.h5' unavailable \(getaddrinfo ENOTFOUND\); what to do: see \[1\/3\] vgg16 extract above$/);
  expect(skips[2]).toMatch(/resnet50_notop\.h5' unavailable/);
  expect(skips.slice(1).every((l) => !l.includes('If this machine is offline'))).toBe(true);
  // The report still keeps each run's whole reason.
  expect(study.runs.every((r) => r.status === 'skipped' && /If this machine is offline/.test(r.reason ?? ''))).toBe(true);
});
