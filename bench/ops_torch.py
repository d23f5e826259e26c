# ops_torch.py: the paper's AlexNet in plain torch.nn, timed like bench/ops.c (train step and inference img/s).
#
#   python3 bench/ops_torch.py BATCH THREADS ITERS
#
# The same layers as bench/ops.c: groups=2 on conv2/4/5, LRN after the ReLUs of conv1 and conv2
# (PyTorch divides alpha by size, so alpha=5e-4 is the paper's 1e-4 on the raw sum), pooling
# 3/2, dropout 0.5 after fc6 and fc7, SGD momentum 0.9 weight decay 5e-4. Synthetic data; a
# warm-up step, then the median of ITERS timed steps. Prints "torch VERSION train IMG/S infer IMG/S".
import statistics
import sys
import time

import torch
import torch.nn as nn


def alexnet():
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4, padding=2), nn.ReLU(inplace=True),
        nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(inplace=True),
        nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2), nn.Flatten(),
        nn.Linear(9216, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(4096, 1000))


def timed(step, iters):
    step()
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    batch, threads, iters = (int(a) for a in sys.argv[1:4])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    net = alexnet()
    x = torch.randn(batch, 3, 224, 224)
    y = torch.randint(0, 1000, (batch,))
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x), y).backward()
        opt.step()

    def infer_step():
        with torch.no_grad():
            net(x)

    net.train()
    t_train = timed(train_step, iters)
    net.eval()
    t_infer = timed(infer_step, iters)
    print("torch %s train %.2f infer %.2f" % (torch.__version__, batch / t_train, batch / t_infer))


if __name__ == "__main__":
    main()
