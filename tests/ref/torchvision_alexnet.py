#!/usr/bin/python3
"""torchvision_alexnet.py: torchvision's own AlexNet against anet running the same weights after anet-convert import.

Needs torch, torchvision and safetensors (pip install torch torchvision safetensors), so it is
not part of make check; tests/check_convert.c checks the same path on a committed fixture.

    python3 tests/ref/torchvision_alexnet.py [BUILD_BIN]      (default: build/bin)

torchvision.models.alexnet with its own random initialisation (the pretrained weights need a
download), saved with safetensors.torch.save_file, imported with pipelines/torchvision-alexnet.net
and .map and --torchvision; 8 records of 256x256 go through imgprep | mkdb, anet-eval writes
fc8's outputs (--features --layer fc8) and anet-convert export makes them readable here.
torchvision runs the centre 224x224 crop of the same records, normalised its way, in float64.
Prints the largest differences of the logits and of the probabilities, and whether the top-1
classes agree.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision
from safetensors.numpy import load_file
from safetensors.torch import save_file

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
bin_dir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(top, "build/bin"))
tool = lambda name: os.path.join(bin_dir, name)  # noqa: E731

torch.manual_seed(1)
rng = np.random.default_rng(1)
net = torchvision.models.alexnet().eval()
# torchvision's random init gives logits of a few hundredths; the last layer x300 spreads the
# probabilities so that a wrong channel or layout shows in them as well as in the logits
with torch.no_grad():
    net.classifier[6].weight.mul_(300)

with tempfile.TemporaryDirectory() as d:
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, f"{d}/tv.safetensors")
    yy, xx = np.mgrid[0:256, 0:256] / 255.0
    imgs = np.empty((8, 256, 256, 3), np.uint8)
    names = []
    for i in range(8):
        img = np.stack([128 + 100 * np.sin(rng.uniform(2, 9) * (rng.uniform(-1, 1) * xx + rng.uniform(-1, 1) * yy)
                                           + rng.uniform(0, 6)) for _ in range(3)], -1)
        img += rng.normal(0, 20, img.shape)
        imgs[i] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        names.append(f"{d}/img{i}.ppm")
        with open(names[-1], "wb") as f:
            f.write(b"P6\n256 256\n255\n" + imgs[i].tobytes())
    run = lambda *a, **k: subprocess.run(a, check=True, **k)  # noqa: E731
    run(tool("anet-convert"), "import", "-q", "--net", f"{top}/pipelines/torchvision-alexnet.net",
        "--map", f"{top}/pipelines/torchvision-alexnet.map", "--torchvision",
        f"{d}/tv.safetensors", "-o", f"{d}/tv.anw")
    with open(f"{d}/list", "w") as f:
        f.writelines(f"{n} 999\n" for n in names)  # 1000 classes, as the model has
    records = run(tool("imgprep"), "--encode", "raw", "-l", f"{d}/list", stdout=subprocess.PIPE,
                  stderr=subprocess.DEVNULL).stdout
    run(tool("mkdb"), "-q", "--no-shuffle", f"{d}/db", input=records)
    run(tool("anet-eval"), "-q", "-w", f"{d}/tv.anw", "--device", "cpu", "--features", f"{d}/f.anf",
        "--layer", "fc8", f"{d}/db", stdout=subprocess.DEVNULL)
    run(tool("anet-convert"), "export", "-q", f"{d}/f.anf", "-o", f"{d}/f.safetensors")
    got = load_file(f"{d}/f.safetensors")["features"].astype(np.float64)

x = torch.from_numpy(imgs[:, 16:240, 16:240, :]).permute(0, 3, 1, 2).double() / 255
mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, 3, 1, 1)
with torch.no_grad():
    want = net.double()((x - mean) / std).numpy()
p_got = np.exp(got - got.max(1, keepdims=True))
p_got /= p_got.sum(1, keepdims=True)
p_want = np.exp(want - want.max(1, keepdims=True))
p_want /= p_want.sum(1, keepdims=True)
print(f"torchvision {torchvision.__version__}, torch {torch.__version__}: 8 records, 1000 classes")
print(f"logits: range {want.min():.3f} .. {want.max():.3f}, largest difference {np.abs(got - want).max():.2e}")
print(f"probabilities: largest {p_want.max():.3f}, largest difference {np.abs(p_got - p_want).max():.2e}")
agree = (got.argmax(1) == want.argmax(1)).sum()
print(f"top-1 class: the same for {agree} of 8 records")
sys.exit(0 if agree == 8 and np.abs(p_got - p_want).max() < 1e-4 else 1)
