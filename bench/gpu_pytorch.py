#!/usr/bin/env python3
"""gpu_pytorch.py: the paper's AlexNet in plain torch.nn on cuDNN, the peer for bench/gpu.sh.

    python3 bench/gpu_pytorch.py [--batch 128] [--iters 30] [--warmup 5] [--precision fp32,tf32] [--device cuda]

The same network as anet's (bench/gpu_alexnet.c): 224x224 input, conv1 11x11/4 pad 2, groups=2
on conv2/4/5, LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2) (PyTorch divides alpha by the
size; the paper's alpha=1e-4 multiplies the raw sum, so 5e-4 here is the same function),
max pooling 3/2, dropout 0.5 after the ReLUs of fc6 and fc7, 1000 classes. A training step is
forward, cross-entropy, backward and SGD with momentum 0.9 and weight decay 5e-4; inference is
the forward pass in eval mode. cudnn.benchmark picks the fastest algorithms (the warm-up pays
for the search). Each step is timed with CUDA events; the median is reported.

FP32 means TF32 off in both cuDNN and cuBLAS (torch.backends.cudnn.allow_tf32 = False,
torch.backends.cuda.matmul.allow_tf32 = False); TF32 turns both on.
Prints "pytorch fp32 train img/s: X" lines that bench/gpu.sh reads.
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def alexnet(classes=1000):
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4, padding=2), nn.ReLU(inplace=True),
        nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(inplace=True),
        nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2), nn.Flatten(),
        nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(4096, classes),
    )


def set_precision(p):
    tf32 = p == "tf32"
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32


def timed(step, dev, warmup, iters):
    """Median seconds of step() over iters runs after warmup runs."""
    for _ in range(warmup):
        step()
    times = []
    if dev.type == "cuda":
        torch.cuda.synchronize()
        for _ in range(iters):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            step()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b) / 1e3)
    else:
        for _ in range(iters):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), max(times)


def profile(train_step, dev, a):
    """Which kernels cuDNN and cuBLAS chose, and what each costs: the comparison's breakdown."""
    from torch.profiler import ProfilerActivity, profile as prof
    set_precision("fp32")
    for _ in range(a.warmup):
        train_step()
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with prof(activities=acts) as p:
        for _ in range(3):
            train_step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
    # torch 2.4 renamed cuda_* to device_*; kernels show best by their own (self) time
    keys = ["self_device_time_total", "self_cuda_time_total"] if dev.type == "cuda" else ["self_cpu_time_total"]
    for key in keys:
        try:
            print(p.key_averages().table(sort_by=key, row_limit=30, max_name_column_width=90), flush=True)
            return
        except (AttributeError, KeyError, ValueError, RuntimeError) as e:
            print(f"(profiler: sorting by {key} failed: {e})", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--precision", default="fp32,tf32")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--profile", action="store_true",
                    help="instead of timing, profile 3 FP32 training steps and print the GPU kernels by time")
    a = ap.parse_args()
    dev = torch.device(a.device)
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    if dev.type == "cuda":
        print(f"device: {torch.cuda.get_device_name(dev)}; torch {torch.__version__}, CUDA {torch.version.cuda}, "
              f"cuDNN {torch.backends.cudnn.version()}", flush=True)
    else:
        print(f"device: CPU; torch {torch.__version__}", flush=True)
    model = alexnet().to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9, weight_decay=5e-4)
    x = torch.rand(a.batch, 3, 224, 224, device=dev) * 2 - 1
    y = torch.randint(0, 1000, (a.batch,), device=dev)

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    def infer_step():
        with torch.inference_mode():
            model(x)

    if a.profile:
        profile(train_step, dev, a)
        return
    for p in a.precision.split(","):
        set_precision(p)
        model.train()
        med, lo, hi = timed(train_step, dev, a.warmup, a.iters)
        print(f"  train {p}: median {med * 1e3:.3f} ms per step of {a.batch} (min {lo * 1e3:.3f}, max {hi * 1e3:.3f})",
              flush=True)
        print(f"pytorch {p} train img/s: {a.batch / med:.1f}", flush=True)
        model.eval()
        med, lo, hi = timed(infer_step, dev, a.warmup, a.iters)
        print(f"  infer {p}: median {med * 1e3:.3f} ms per step of {a.batch} (min {lo * 1e3:.3f}, max {hi * 1e3:.3f})",
              flush=True)
        print(f"pytorch {p} infer img/s: {a.batch / med:.1f}", flush=True)


if __name__ == "__main__":
    main()
