#!/usr/bin/env python3
"""PyTorch CUDA reference of Tiny VGG (same network as bench/tinyvgg.ts and the model zoo's tinyvgg):
forward and training-step (Adam, binary cross-entropy) images/s at the given size and batch, timed with
CUDA events after warm-up. Runs twice: PyTorch defaults (cuDNN may use TF32 tensor cores) and strict
FP32 (TF32 off), since WebGPU has no tensor-core path and computes in plain FP32.
Usage: torch_reference.py [--img-size 256] [--batch 32] [--iters 30] [--json FILE]"""
import argparse
import json
import sys
import time

import torch
import torch.nn as nn


def tiny_vgg(img_size: int) -> nn.Module:
    s = ((img_size - 4) // 2 - 4) // 2  # two valid 3x3 convs, pool, two convs, pool
    return nn.Sequential(
        nn.Conv2d(3, 50, 3), nn.ReLU(), nn.Conv2d(50, 50, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(50, 50, 3), nn.ReLU(), nn.Conv2d(50, 50, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(50 * s * s, 64), nn.ReLU(), nn.Linear(64, 1),
    )


def timed(fn, iters: int) -> float:
    """Median milliseconds per call over `iters` CUDA-event-timed calls."""
    times = []
    for _ in range(iters):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def run(img_size: int, batch: int, iters: int, tf32: bool, channels_last: bool) -> dict:
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(1)
    dev = torch.device('cuda')
    model = tiny_vgg(img_size).to(dev)
    x = torch.rand(batch, 3, img_size, img_size, device=dev)
    y = (torch.rand(batch, 1, device=dev) > 0.5).float()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.BCEWithLogitsLoss()

    def fwd():
        with torch.no_grad():
            model(x)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(5):
        fwd()
        step()
    torch.cuda.synchronize()
    fwd_ms = timed(fwd, iters)
    step_ms = timed(step, iters)
    return {
        'imgSize': img_size, 'batch': batch, 'tf32': tf32, 'channelsLast': channels_last,
        'forwardMs': fwd_ms, 'trainStepMs': step_ms,
        'forwardImagesPerSec': batch * 1000 / fwd_ms, 'trainImagesPerSec': batch * 1000 / step_ms,
    }


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument('--img-size', type=int, default=256)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--iters', type=int, default=30)
    p.add_argument('--json')
    a = p.parse_args()
    if not torch.cuda.is_available():
        print('torch_reference: no CUDA device', file=sys.stderr)
        return 2
    t0 = time.time()
    res = {'device': torch.cuda.get_device_name(0), 'torch': torch.__version__, 'runs': []}
    for tf32, cl in [(True, False), (False, False), (True, True)]:
        r = run(a.img_size, a.batch, a.iters, tf32, cl)
        res['runs'].append(r)
        print(f"torch {res['device']} tinyvgg {a.img_size}px batch {a.batch} tf32={tf32} channels_last={cl}: "
              f"forward {r['forwardImagesPerSec']:.0f} img/s, train step {r['trainImagesPerSec']:.0f} img/s", flush=True)
    res['seconds'] = time.time() - t0
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
