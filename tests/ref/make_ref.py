#!/usr/bin/python3
"""make_ref.py: writes the PyTorch reference fixtures that tests/check_net.c compares anet against.

Run with Debian's Python, which has torch 1.13 (the tests themselves never need torch):

    /usr/bin/python3 tests/ref/make_ref.py [OUTDIR]     (default: tests/ref)

Both sides draw the same numbers from anet's counter RNG (philox.py is kernels/rng.h in
numpy): the initial weights exactly as net_init draws them, the inputs, and the dropout masks.
The network is built here in plain torch.nn / torch.nn.functional in float64, so the
expected values carry no float32 error of their own, and only the outputs are committed.

small.antf  the paper's topology (conv1 11x11/4 pad 2, LRN after the ReLUs of conv1 and conv2,
            3x3/2 max pooling, groups=2 on conv2, conv4, conv5, dropout 0.5 after fc6 and fc7)
            at widths /8 and fc 64 wide, on 99x99 inputs, batch 4, 10 classes. Holds its spec,
            the labels, the eval-mode logits and loss, the train-mode logits and loss at step 0
            (dropout on, masks from Philox), every parameter's gradient at step 0, the losses of
            3 SGD steps with the paper's rule, and every parameter after those 3 steps.
alexnet.antf the built-in full-size network, seed 1, the eval-mode logits of 2 images.

Fixture files are anet tensor files (man 5 anet-formats) of the "features" kind, which is
anet's kind for a bag of named tensors with no model meaning.
"""
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import philox as P  # noqa: E402

torch.set_default_dtype(torch.float64)

# ------------------------------------------------------------------------------------------
# the tensor file container (libcommon/tensorfile.h)

TF_FEATURES = 4
DT = {np.float32: 1, np.float64: 2, np.int32: 3, np.int64: 4}
DT_TEXT = 6


class TensorWriter:
    def __init__(self):
        self.entries = []

    def add(self, name, array):
        a = np.array(array, order="C")  # (ascontiguousarray would make scalars 1-d)
        code = DT[a.dtype.type]
        self.entries.append((name, code, a.shape, a.astype(a.dtype.newbyteorder("<")).tobytes()))

    def add_text(self, name, text):
        b = text.encode()
        self.entries.append((name, DT_TEXT, (len(b),), b))

    def write(self, path):
        body = b""
        for name, code, shape, data in self.entries:
            nb = name.encode()
            body += struct.pack("<I", len(nb)) + nb + struct.pack("<II", code, len(shape))
            body += b"".join(struct.pack("<Q", d) for d in shape) + data
        size = 32 + len(body) + 4
        head = struct.pack("<IIIIIIQ", 0x46544E41, 1, 0x01020304, TF_FEATURES, len(self.entries), 0, size)
        with open(path + ".tmp", "wb") as f:
            f.write(head + body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF))
        os.replace(path + ".tmp", path)
        print(f"{path}: {size} bytes, {len(self.entries)} tensors")


# ------------------------------------------------------------------------------------------
# the network, as a list of layers that is both the anet spec and the torch forward pass

def alexnet_layers(width, fc, size, init=None):
    """The paper's topology. width divides the conv widths, fc is the hidden fc width; init
    (None: the paper's 0.01 everywhere) sets every layer's weight std. fc8's width is the
    class count, "classes" as in the spec."""
    d = lambda c: c // width  # noqa: E731
    ini = {} if init is None else {"init": init}
    lrn = ("lrn", {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2})
    pool = ("pool", {"size": 3, "stride": 2})
    return [
        ("input", {"size": size, "channels": 3}),
        ("conv", {"name": "conv1", "out": d(96), "kernel": 11, "stride": 4, "pad": 2, "bias": 0, **ini}),
        ("relu", {}), lrn, pool,
        ("conv", {"name": "conv2", "out": d(256), "kernel": 5, "pad": 2, "groups": 2, "bias": 1, **ini}),
        ("relu", {}), lrn, pool,
        ("conv", {"name": "conv3", "out": d(384), "kernel": 3, "pad": 1, "bias": 0, **ini}),
        ("relu", {}),
        ("conv", {"name": "conv4", "out": d(384), "kernel": 3, "pad": 1, "groups": 2, "bias": 1, **ini}),
        ("relu", {}),
        ("conv", {"name": "conv5", "out": d(256), "kernel": 3, "pad": 1, "groups": 2, "bias": 1, **ini}),
        ("relu", {}), pool,
        ("fc", {"name": "fc6", "out": fc, "bias": 1, **ini}),
        ("relu", {}), ("dropout", {"p": 0.5}),
        ("fc", {"name": "fc7", "out": fc, "bias": 1, **ini}),
        ("relu", {}), ("dropout", {"p": 0.5}),
        ("fc", {"name": "fc8", "out": "classes", "bias": 0, **ini}),
        ("softmax", {}),
    ]


def spec_text(layers):
    lines = ["# written by tests/ref/make_ref.py"]
    for kind, opts in layers:
        lines.append(" ".join([kind] + [f"{k}={v}" for k, v in opts.items()]))
    return "\n".join(lines) + "\n"


def outputs(o, classes):
    return classes if o["out"] == "classes" else o["out"]


def init_params(layers, seed, classes):
    """net_init: weight element e of parameter tensor t is float32(std) * rng_normal(seed,
    RNG_STREAM(RNG_INIT, t), e) in float32; biases are the spec's. Returns name -> float32
    array, in the order of the spec's parameters (t counts weights and biases)."""
    params = {}
    c, h, w = layers[0][1]["channels"], layers[0][1]["size"], layers[0][1]["size"]
    t = 0
    for kind, o in layers[1:]:
        out = outputs(o, classes) if "out" in o else 0
        if kind == "conv":
            g = o.get("groups", 1)
            shape = (out, c // g, o["kernel"], o["kernel"])
            s, pad = o.get("stride", 1), o.get("pad", 0)
            h = (h + 2 * pad - o["kernel"]) // s + 1
            w = (w + 2 * pad - o["kernel"]) // s + 1
            c = out
        elif kind == "fc":
            shape = (out, c * h * w)
            c, h, w = out, 1, 1
        elif kind == "pool":
            h = (h - o["size"]) // o["stride"] + 1
            w = (w - o["size"]) // o["stride"] + 1
            continue
        else:
            continue
        std = np.float32(o.get("init", 0.01))
        n = int(np.prod(shape))
        params[o["name"] + ".weight"] = (std * P.normals(seed, P.rng_stream(P.RNG_INIT, t), n)).reshape(shape)
        params[o["name"] + ".bias"] = np.full(out, o["bias"], dtype=np.float32)
        t += 2
    return params


def dropout_mask(seed, layer, step, shape, p):
    """The kept units of anet's dropout layer `layer` (index in the spec) at global step."""
    n = int(np.prod(shape))
    u = P.rng_uniform(seed, P.rng_stream(P.RNG_DROPOUT, (layer << 40) | step), np.arange(n, dtype=np.uint64))
    return torch.from_numpy((u >= np.float32(p)).astype(np.float64).reshape(shape)) / (1.0 - p)


def forward(layers, params, x, seed=0, step=None):
    """The torch forward pass in float64; step None is eval mode (no dropout). Returns logits."""
    for i, (kind, o) in enumerate(layers):
        if kind == "conv":
            x = F.conv2d(x, params[o["name"] + ".weight"], params[o["name"] + ".bias"],
                         stride=o.get("stride", 1), padding=o.get("pad", 0), groups=o.get("groups", 1))
        elif kind == "fc":
            x = F.linear(torch.flatten(x, 1), params[o["name"] + ".weight"], params[o["name"] + ".bias"])
        elif kind == "relu":
            x = F.relu(x)
        elif kind == "lrn":
            # PyTorch divides alpha by size (as Caffe): alpha = size * 1e-4 = 5e-4 gives the
            # paper's 1e-4 on the raw sum of squares, which is what anet's alpha means
            x = F.local_response_norm(x, o["size"], alpha=o["size"] * o["alpha"], beta=o["beta"], k=o["k"])
        elif kind == "pool":
            x = F.max_pool2d(x, o["size"], o["stride"])
        elif kind == "dropout" and step is not None:
            x = x * dropout_mask(seed, i, step, tuple(x.shape), o["p"])
    return x


def make_input(seed, batch, size, scale):
    """anet's test input: scale * rng_normal(seed, RNG_STREAM(RNG_TEST, 1), i), NCHW order."""
    n = batch * 3 * size * size
    x = np.float32(scale) * P.normals(seed, P.rng_stream(P.RNG_TEST, 1), n)
    return x.reshape(batch, 3, size, size)


def init_sample(params):
    """The first 8 numbers of each weight tensor: checks that both sides drew the same init."""
    return np.concatenate([v.reshape(-1)[:8] for k, v in params.items() if k.endswith(".weight")])


def small(outdir):
    seed, batch, size, classes, scale, lr, steps = 20121203, 4, 99, 10, 20.0, 0.01, 3
    # weights wider than the paper's 0.01 keep activations of order 1 to 10 through 8 layers
    # of a narrow net, so that the LRN's normalisation bites (conv1's outputs reach 50) and the
    # logits differ between images and classes (the full-size fixture keeps the paper's 0.01)
    layers = alexnet_layers(8, 64, size, init=0.08)
    w32 = init_params(layers, seed, classes)
    x = torch.from_numpy(make_input(seed, batch, size, scale).astype(np.float64))
    labels = P.rng_below(seed, P.rng_stream(P.RNG_TEST, 2), np.arange(batch, dtype=np.uint64), classes)
    y = torch.from_numpy(labels)

    out = TensorWriter()
    out.add_text("spec", spec_text(layers))
    out.add("classes", np.int64(classes))
    out.add("seed", np.int64(seed))
    out.add("input_scale", np.float64(scale))
    out.add("lr", np.float64(lr))
    out.add("labels", labels.astype(np.int32))
    out.add("init.sample", init_sample(w32))

    w = {k: torch.from_numpy(v.astype(np.float64)) for k, v in w32.items()}
    with torch.no_grad():
        logits = forward(layers, w, x)
    out.add("eval.logits", logits.numpy().astype(np.float32))
    out.add("eval.loss", np.float64(F.cross_entropy(logits, y).item()))

    v = {k: torch.zeros_like(t) for k, t in w.items()}
    losses = []
    for step in range(steps):
        for t in w.values():
            t.requires_grad_(True)
            t.grad = None
        logits = forward(layers, w, x, seed, step)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        losses.append(loss.item())
        if step == 0:
            out.add("train.logits", logits.detach().numpy().astype(np.float32))
            for k, t in w.items():
                out.add("grad." + k, t.grad.numpy().astype(np.float32))
        with torch.no_grad():
            # the paper's rule (§5), written out: torch.optim.SGD puts lr outside the velocity
            for k, t in w.items():
                v[k] = 0.9 * v[k] - 0.0005 * lr * t - lr * t.grad
                w[k] = (t + v[k]).detach()
        print(f"small: step {step} loss {losses[-1]:.6f}")
    out.add("train.loss", np.array(losses, dtype=np.float64))
    for k, t in w.items():
        out.add("step3." + k, t.numpy().astype(np.float32))
    out.write(os.path.join(outdir, "small.antf"))


def alexnet(outdir):
    seed, batch, size, classes, scale = 1, 2, 224, 1000, 50.0
    layers = alexnet_layers(1, 4096, size)
    w32 = init_params(layers, seed, classes)
    x = torch.from_numpy(make_input(seed, batch, size, scale).astype(np.float64))
    w = {k: torch.from_numpy(v.astype(np.float64)) for k, v in w32.items()}
    with torch.no_grad():
        logits = forward(layers, w, x)
    out = TensorWriter()
    out.add("seed", np.int64(seed))
    out.add("input_scale", np.float64(scale))
    out.add("init.sample", init_sample(w32))
    out.add("eval.logits", logits.numpy().astype(np.float32))
    out.write(os.path.join(outdir, "alexnet.antf"))


if __name__ == "__main__":
    P._check()  # the Philox known answers first: the fixtures are worthless without them
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    small(outdir)
    alexnet(outdir)
