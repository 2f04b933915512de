#!/usr/bin/env python3
"""PyTorch reference of the models `pnpm bench` times: forward and training-step (Adam, binary
cross-entropy) images/s at the given size and batch, median over timed calls after warm-up.

Models (same layers as the model zoo's):
  tinyvgg   two valid 3x3 convs (50), pool, two convs, pool, dense 64, dense 1
  partsnet  conv-BN-ReLU blocks, 'same' padding, stride-2 stem, max-pools, widths 24-32-64-128-256,
            global average pooling, dropout 0.3, dense 1 (no conv bias; BN eps 1e-3, momentum 0.9 in
            Keras terms)

--device cuda: CUDA-event timing, PyTorch defaults (cuDNN may use TF32) and strict FP32 (TF32 off),
  since WebGPU computes in plain FP32; and channels-last.
--device cpu: wall-clock timing on --threads threads (default: every CPU this process may run on),
  in both memory formats (contiguous and channels-last); the faster one is the peer figure.

Usage: torch_reference.py [--device auto|cpu|cuda] [--arch tinyvgg|partsnet] [--img-size 256] [--batch 32]
                          [--iters 30] [--threads N] [--json FILE|-]
With --json -, the only thing on stdout is one JSON object (progress goes to stderr)."""
import argparse
import json
import os
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


def parts_net(img_size: int, widths=(24, 32, 64, 128, 256)) -> nn.Module:
    """packages/models/src/archs/partsnet.ts. 'same' 3x3 convolutions are padding=1 (for the stride-2
    stem on an even input TF pads 0 before and 1 after instead: same output size and FLOPs)."""
    if img_size % 16:
        raise ValueError(f'partsnet reference: img_size must be a multiple of 16 (pools without padding), got {img_size}')

    def cbr(cin: int, cout: int, stride: int = 1) -> list:
        # Keras momentum 0.9 (weight of the old value) is PyTorch momentum 0.1.
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout, eps=1e-3, momentum=0.1), nn.ReLU()]

    w = widths
    return nn.Sequential(
        *cbr(3, w[0], 2), *cbr(w[0], w[1]), nn.MaxPool2d(2),
        *cbr(w[1], w[2]), *cbr(w[2], w[2]), nn.MaxPool2d(2),
        *cbr(w[2], w[3]), *cbr(w[3], w[3]), nn.MaxPool2d(2),
        *cbr(w[3], w[4]),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(w[4], 1),
    )


ARCHS = {'tinyvgg': tiny_vgg, 'partsnet': parts_net}


def timed_cuda(fn, iters: int) -> float:
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


def timed_cpu(fn, iters: int, min_seconds: float) -> float:
    """Median milliseconds per call over at least `iters` calls and `min_seconds` seconds (at most 10 x iters)."""
    times = []
    t_start = time.perf_counter()
    while len(times) < iters or (time.perf_counter() - t_start < min_seconds and len(times) < 10 * iters):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[len(times) // 2]


def run(arch: str, img_size: int, batch: int, iters: int, dev: torch.device, tf32: bool, channels_last: bool,
        min_seconds: float) -> dict:
    cuda = dev.type == 'cuda'
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(1)
    model = ARCHS[arch](img_size).to(dev)
    x = torch.rand(batch, 3, img_size, img_size, device=dev)
    y = (torch.rand(batch, 1, device=dev) > 0.5).float()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.BCEWithLogitsLoss()

    def fwd():
        model.eval()  # batch norm with the moving statistics, dropout off: what predict does
        with torch.no_grad():
            model(x)

    def step():
        model.train()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(3 if not cuda else 5):
        fwd()
        step()
    if cuda:
        torch.cuda.synchronize()
        fwd_ms, step_ms = timed_cuda(fwd, iters), timed_cuda(step, iters)
    else:
        fwd_ms, step_ms = timed_cpu(fwd, iters, min_seconds), timed_cpu(step, iters, min_seconds)
    return {
        'arch': arch, 'imgSize': img_size, 'batch': batch, 'tf32': tf32 if cuda else False, 'channelsLast': channels_last,
        'forwardMs': fwd_ms, 'trainStepMs': step_ms,
        'forwardImagesPerSec': batch * 1000 / fwd_ms, 'trainImagesPerSec': batch * 1000 / step_ms,
    }


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto')
    p.add_argument('--arch', choices=sorted(ARCHS), default='tinyvgg')
    p.add_argument('--img-size', type=int, default=256)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--iters', type=int, default=30)
    p.add_argument('--seconds', type=float, default=0, help='CPU: time each phase for at least this long')
    p.add_argument('--threads', type=int, default=0, help='CPU threads (default: every CPU available)')
    p.add_argument('--json')
    a = p.parse_args()
    device = a.device
    if device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if device == 'cuda' and not torch.cuda.is_available():
        print('torch_reference: no CUDA device', file=sys.stderr)
        return 2
    log = sys.stderr if a.json == '-' else sys.stdout
    t0 = time.time()
    if device == 'cuda':
        res = {'device': torch.cuda.get_device_name(0), 'torch': torch.__version__, 'runs': []}
        variants = [(True, False), (False, False), (True, True)]
    else:
        threads = a.threads or cpu_count()
        torch.set_num_threads(threads)
        res = {'device': f'CPU ({threads} thread{"s" if threads > 1 else ""})', 'threads': threads, 'torch': torch.__version__, 'runs': []}
        variants = [(False, False), (False, True)]
    dev = torch.device(device)
    for tf32, cl in variants:
        r = run(a.arch, a.img_size, a.batch, a.iters, dev, tf32, cl, a.seconds)
        res['runs'].append(r)
        print(f"torch {res['device']} {a.arch} {a.img_size}px batch {a.batch} tf32={tf32} channels_last={cl}: "
              f"forward {r['forwardImagesPerSec']:.1f} img/s, train step {r['trainImagesPerSec']:.1f} img/s", file=log, flush=True)
    if device == 'cpu':
        # The peer figure: the faster memory format for each phase.
        res['best'] = {
            'forwardImagesPerSec': max(r['forwardImagesPerSec'] for r in res['runs']),
            'trainImagesPerSec': max(r['trainImagesPerSec'] for r in res['runs']),
        }
    res['seconds'] = time.time() - t0
    if a.json == '-':
        sys.stdout.write(json.dumps(res) + '\n')
    elif a.json:
        with open(a.json, 'w') as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
