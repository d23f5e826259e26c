#!/usr/bin/python3
"""anet_in_torch.py: an anet model run by PyTorch from its anet-convert export, against anet-eval on the same inputs.

Needs torch and safetensors (pip install torch safetensors), so it is not part of make check.

    python3 tests/ref/anet_in_torch.py MODEL.anw DB [N [BUILD_BIN]]     (N images, default 1000)

torch_net() builds a torch.nn.Module from the network specification a model carries (the
"spec" metadata of its export) and loads the weights by name: the way to use an anet model
in PyTorch. To compare, anet-eval dumps for the first N records of DB the network's input
(--features --layer data: the centre crop, mean taken away, scaled) and its last layer's
outputs; PyTorch runs its module on that input. Prints the largest difference of the
outputs, the top-1 agreement and each side's accuracy against the database's labels.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import load_file
from torch import nn


def layers_of(spec):
    """(type, {key: value}) per line of a specification (man 5 anet-formats)."""
    for line in spec.splitlines():
        line = line.split("#", 1)[0].split()
        if line:
            yield line[0], dict(kv.split("=", 1) for kv in line[1:])


class AnetNet(nn.Module):
    """The network of an anet spec, evaluation only, its parameters under anet's names."""

    def __init__(self, spec, weights):
        super().__init__()
        self.steps = []
        self.params = nn.ParameterDict()
        names = {}
        for kind, kv in layers_of(spec):
            if kind in ("conv", "fc"):
                # unnamed layers are called conv1, fc2, ... by their count among learned layers
                names[kind] = names.get(kind, 0)
                learned = sum(names.values()) + 1
                names[kind] += 1
                name = kv.get("name", f"{kind}{learned}")
                for p in ("weight", "bias"):
                    self.params[f"{name}__{p}"] = nn.Parameter(torch.from_numpy(weights[f"{name}.{p}"]))
                self.steps.append((kind, name, kv))
            else:
                self.steps.append((kind, None, kv))

    def forward(self, x):
        for kind, name, kv in self.steps:
            w = self.params[f"{name}__weight"] if name else None
            b = self.params[f"{name}__bias"] if name else None
            if kind == "conv":
                x = nn.functional.conv2d(x, w, b, stride=int(kv.get("stride", 1)), padding=int(kv.get("pad", 0)),
                                         groups=int(kv.get("groups", 1)))
            elif kind == "fc":
                x = nn.functional.linear(x.flatten(1), w, b)
            elif kind == "relu":
                x = torch.relu(x)
            elif kind == "pool":
                x = nn.functional.max_pool2d(x, int(kv.get("size", 3)), int(kv.get("stride", 2)))
            elif kind == "lrn":
                # anet's alpha multiplies the raw sum of squares; torch's is divided by the size
                n = int(kv.get("size", 5))
                x = nn.functional.local_response_norm(x, n, float(kv.get("alpha", 1e-4)) * n,
                                                      float(kv.get("beta", 0.75)), float(kv.get("k", 2)))
            elif kind in ("input", "dropout", "softmax"):
                pass  # the input is given; no dropout in evaluation; the logits are compared
            else:
                raise ValueError(f"unknown layer type {kind}")
        return x


def torch_net(exported):
    """An anet model exported by anet-convert, as a PyTorch module (and its spec)."""
    with safe_open(exported, "np") as f:
        spec = f.metadata()["spec"]
    return AnetNet(spec, load_file(exported)).eval(), spec


def main():
    model, db = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    bin_dir = os.path.abspath(sys.argv[4] if len(sys.argv) > 4 else os.path.join(top, "build/bin"))
    tool = lambda name: os.path.join(bin_dir, name)  # noqa: E731
    run = lambda *a: subprocess.run(a, check=True, stdout=subprocess.DEVNULL)  # noqa: E731
    with tempfile.TemporaryDirectory() as d:
        run(tool("anet-convert"), "export", "-q", model, "-o", f"{d}/m.safetensors")
        net, spec = torch_net(f"{d}/m.safetensors")
        last = [kv.get("name") for kind, kv in layers_of(spec) if kind == "fc"][-1]
        feats = {}
        for layer in ("data", last):
            run(tool("anet-eval"), "-q", "-w", model, "--device", "cpu", "--limit", str(n), "--features",
                f"{d}/{layer}.anf", "--layer", layer, db)
            run(tool("anet-convert"), "export", "-q", f"{d}/{layer}.anf", "-o", f"{d}/{layer}.safetensors")
            feats[layer] = load_file(f"{d}/{layer}.safetensors")
    kind, kv = next(layers_of(spec))
    c, s = int(kv.get("channels", 3)), int(kv["size"])
    x = torch.from_numpy(feats["data"]["features"]).view(-1, c, s, s)
    with torch.no_grad():
        want = net(x).numpy()
    got, labels = feats[last]["features"], feats[last]["labels"]
    print(f"{model}: {len(got)} images of {db}, {s}x{s}x{c} inputs, torch {torch.__version__}")
    print(f"{last} outputs: range {want.min():.3f} .. {want.max():.3f}, largest difference {np.abs(got - want).max():.2e}")
    agree = (got.argmax(1) == want.argmax(1)).mean()
    print(f"top-1 class the same for {100 * agree:.2f}% of the images; accuracy: anet "
          f"{100 * (got.argmax(1) == labels).mean():.2f}%, PyTorch {100 * (want.argmax(1) == labels).mean():.2f}%")
    sys.exit(0 if agree == 1 else 1)


if __name__ == "__main__":
    main()
