#!/usr/bin/python3
"""pcacolor_ref.py: pcacolor's statistics computed independently with numpy, for test_pcacolor.sh.

Reads record streams (man 5 anet-formats, RECORD STREAM) and prints, for each, the lines of
`pcacolor --print=values` (less `source`) prefixed by a tag: the image count and shape, the
channel means, the covariance over all pixels (divided by the pixel count), its eigenvalues
(largest first) with their square roots, the unit eigenvectors (row i for eigenvalue i, the
component of largest magnitude positive), and the mean image. numpy's float64 arithmetic
and LAPACK's symmetric eigensolver (numpy.linalg.eigh) stand in for pcacolor's exact integer
sums and Jacobi rotations, so agreement checks both.

    /usr/bin/python3 tests/ref/pcacolor_ref.py TAG=STREAM... > tests/data/pcacolor-ref.txt

test_pcacolor.sh writes the streams and runs this when ANET_MAKE_REF=1 (then commit the
output). Raw payloads only: the reference must not depend on a JPEG decoder.
"""
import struct
import sys

import numpy as np

RECORD_MAGIC = 0x43524E41
CLASSES_MAGIC = 0x4C434E41


def read_images(path):
    data = open(path, "rb").read()
    images, off = [], 0
    while off < len(data):
        (magic,) = struct.unpack_from("<I", data, off)
        if magic == CLASSES_MAGIC:
            _, _, _, nbytes = struct.unpack_from("<HHII", data, off + 4)
            off += 16 + nbytes
            continue
        if magic != RECORD_MAGIC:
            sys.exit(f"{path}: bad magic at byte {off}")
        _, enc, _, h, w, c, name_len, payload_len = struct.unpack_from("<HHiIIIII", data, off + 4)
        if enc != 0:
            sys.exit(f"{path}: record {len(images)} is not raw")
        off += 32 + name_len
        images.append(np.frombuffer(data, np.uint8, payload_len, off).reshape(h, w, c))
        off += payload_len
    return np.stack(images)


def line(tag, name, values, fmt="%.17g"):
    print(tag, name, " ".join(fmt % v for v in np.ravel(values)))


def report(tag, images):
    n, h, w, c = images.shape
    pixels = images.reshape(-1, c).astype(np.float64)
    mean_channel = pixels.mean(axis=0)
    centred = pixels - mean_channel
    cov = centred.T @ centred / len(pixels)
    val, vec = np.linalg.eigh(cov)  # ascending; columns are the eigenvectors
    order = np.argsort(val)[::-1]
    val, vec = val[order], vec[:, order].T
    for row in vec:
        if row[np.argmax(np.abs(row))] < 0:
            row *= -1
    print(tag, "images", n)
    print(tag, "height", h)
    print(tag, "width", w)
    print(tag, "channels", c)
    print(tag, "pixel_scale", "0-255")
    line(tag, "mean_channel", mean_channel)
    line(tag, "cov", cov)
    line(tag, "eigval", val)
    line(tag, "sigma", np.sqrt(np.maximum(val, 0)))
    line(tag, "eigvec", vec)
    line(tag, "mean", images.astype(np.float64).mean(axis=0), "%.9g")


def main():
    print("# pcacolor reference values from tests/ref/pcacolor_ref.py (numpy %s); regenerate with"
          % np.__version__)
    print("# ANET_MAKE_REF=1 ANET_TESTS_ONLY=test_pcacolor make check")
    for arg in sys.argv[1:]:
        tag, path = arg.split("=", 1)
        report(tag, read_images(path))


if __name__ == "__main__":
    main()
