"""cpu_alexnet_pytorch.py: PyTorch's side of bench/cpu-alexnet.sh: the paper's net on synthetic data.

The same network and step as anet-train --time: groups=2 on conv2, conv4, conv5; LRN with the
paper's constants (PyTorch's alpha is n times the paper's: 5e-4); overlapping 3x3/2 pooling;
dropout 0.5; softmax cross-entropy; the paper's update written out with in-place tensor ops
(torch.optim.SGD keeps the learning rate outside the velocity). Batch and threads from the
command line; medians of the timed steps; then per-layer inference times, one module at a
time; then the process's peak resident set.

    python cpu_alexnet_pytorch.py BATCH ITERS THREADS
"""
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def alexnet(classes=1000):
    lrn = lambda: nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)  # noqa: E731
    layers = [
        ("conv1", nn.Conv2d(3, 96, 11, stride=4, padding=2)), ("relu1", nn.ReLU(inplace=True)),
        ("lrn1", lrn()), ("pool1", nn.MaxPool2d(3, 2)),
        ("conv2", nn.Conv2d(96, 256, 5, padding=2, groups=2)), ("relu2", nn.ReLU(inplace=True)),
        ("lrn2", lrn()), ("pool2", nn.MaxPool2d(3, 2)),
        ("conv3", nn.Conv2d(256, 384, 3, padding=1)), ("relu3", nn.ReLU(inplace=True)),
        ("conv4", nn.Conv2d(384, 384, 3, padding=1, groups=2)), ("relu4", nn.ReLU(inplace=True)),
        ("conv5", nn.Conv2d(384, 256, 3, padding=1, groups=2)), ("relu5", nn.ReLU(inplace=True)),
        ("pool5", nn.MaxPool2d(3, 2)), ("flatten", nn.Flatten()),
        ("fc6", nn.Linear(9216, 4096)), ("relu6", nn.ReLU(inplace=True)), ("drop6", nn.Dropout(0.5)),
        ("fc7", nn.Linear(4096, 4096)), ("relu7", nn.ReLU(inplace=True)), ("drop7", nn.Dropout(0.5)),
        ("fc8", nn.Linear(4096, classes)),
    ]
    net = nn.Sequential()
    for name, m in layers:
        net.add_module(name, m)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
    return net


def paper_update(params, velocity, lr, momentum=0.9, decay=0.0005):
    with torch.no_grad():
        for w, v in zip(params, velocity):
            v.mul_(momentum).add_(w, alpha=-decay * lr).add_(w.grad, alpha=-lr)
            w.add_(v)


def main():
    batch, iters, threads = (int(a) for a in sys.argv[1:4])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    net = alexnet()
    params = list(net.parameters())
    velocity = [torch.zeros_like(p) for p in params]
    x = 50 * torch.randn(batch, 3, 224, 224)
    y = torch.randint(0, 1000, (batch,))

    def train_step():
        net.train()
        for p in params:
            p.grad = None
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        paper_update(params, velocity, 0.001)
        return loss.item()

    def infer():
        net.eval()
        with torch.no_grad():
            return F.softmax(net(x), 1)[0, 0].item()

    train_step()
    infer()
    t_train, t_infer = [], []
    for _ in range(iters):
        t0 = time.perf_counter()
        train_step()
        t_train.append(time.perf_counter() - t0)
    for _ in range(iters):
        t0 = time.perf_counter()
        infer()
        t_infer.append(time.perf_counter() - t0)

    # per-layer inference, one module at a time
    net.eval()
    per_layer = []
    with torch.no_grad():
        h = x
        for name, m in net.named_children():
            t0 = time.perf_counter()
            h = m(h)
            per_layer.append((name, time.perf_counter() - t0))

    st, si = statistics.median(t_train), statistics.median(t_infer)
    print(f"pytorch {torch.__version__}, {torch.get_num_threads()} threads, batch {batch}")
    for name, t in per_layer:
        if not name.startswith(("relu", "drop", "flatten")):
            print(f"  {name:<10} infer {t * 1e3:10.2f} ms")
    print(f"train: {batch / st:.2f} img/s (median step {st:.3f} s)")
    print(f"inference: {batch / si:.2f} img/s (median pass {si:.3f} s)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"peak memory: {rss / 1048576:.1f} MiB (process resident set)")


if __name__ == "__main__":
    main()
