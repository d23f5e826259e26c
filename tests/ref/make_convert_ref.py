#!/usr/bin/python3
"""make_convert_ref.py: writes the PyTorch fixtures that tests/check_convert.c imports with anet-convert.

Needs torch and safetensors (pip install torch safetensors); the tests themselves need neither:

    python3 tests/ref/make_convert_ref.py [OUTDIR]     (default: tests/ref)

owt-tiny.safetensors  a torchvision-shaped AlexNet ("one weird trick": no LRN, no groups,
                      dropout before the fc layers, state_dict names features.N and
                      classifier.N) at a tiny size: 32x32 RGB crops, 8 and 16 maps, fc 32, 10
                      classes. Its state_dict saved with safetensors.torch.save_file, exactly as
                      a PyTorch user would save theirs. anet's side of it is owt-tiny.net and
                      owt-tiny.map beside it.
owt-tiny-expect.safetensors
    images      U8  [6, 40, 40, 3]  records (HWC, 0-255), as anet keeps images
    probs       F64 [6, 10]  softmax of the network in eval mode on the centre 32x32 crop of
                             each record, normalised as torchvision does: (x/255 - mean) / std
    probs_bgr   F64 [6, 10]  the same weights taken as a BGR network (Caffe's channel order):
                             the crop normalised with the mean and std in RGB order, then its
                             channels reversed (anet-convert --bgr: --mean and --std are
                             always in the image's RGB order)
The forward pass runs in float64, so the expected values carry no float32 error of their own.
"""
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

torch.manual_seed(20261207)
rng = np.random.default_rng(20261207)

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


class TinyOWT(nn.Module):
    """torchvision.models.AlexNet's layout, shrunk."""

    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, kernel_size=5, stride=2, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2))
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(16 * 3 * 3, 32), nn.ReLU(inplace=True),
            nn.Dropout(0.5), nn.Linear(32, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def records(n):
    """Smooth colour fields with edges and noise: inputs that move every weight."""
    yy, xx = np.mgrid[0:40, 0:40] / 39.0
    out = np.empty((n, 40, 40, 3), np.uint8)
    for i in range(n):
        img = np.zeros((40, 40, 3))
        for c in range(3):
            a, b, ph = rng.uniform(-1, 1, 3)
            img[..., c] = 128 + 90 * np.sin(3 * (a * xx + b * yy) + 6 * ph)
        img[rng.integers(0, 40):, rng.integers(0, 40):] *= 0.4
        img += rng.normal(0, 12, img.shape)
        out[i] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return out


def probs(net, crops, bgr=False):
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).double() / 255
    x = (x - MEAN.double()) / STD.double()
    if bgr:
        x = x.flip(1)
    with torch.no_grad():
        return torch.softmax(net(x), dim=1).numpy()


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    net = TinyOWT().eval()
    # torch's default init leaves the logits within a few hundredths of each other; spread
    # them (weights x2.5, biases /2): probabilities of 0.36 to 0.79 move with every weight
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.mul_(0.5 if name.endswith("bias") else 2.5)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()},
              os.path.join(outdir, "owt-tiny.safetensors"))
    imgs = records(6)
    crops = imgs[:, 4:36, 4:36, :]
    net64 = net.double()
    expect = {
        "images": torch.from_numpy(imgs),
        "probs": torch.from_numpy(probs(net64, crops)),
        "probs_bgr": torch.from_numpy(probs(net64, crops, bgr=True)),
    }
    save_file(expect, os.path.join(outdir, "owt-tiny-expect.safetensors"))
    print("top-1 of each image:", expect["probs"].argmax(1).tolist(),
          "largest probabilities:", np.round(expect["probs"].max(1).values.numpy(), 3).tolist())


if __name__ == "__main__":
    main()
