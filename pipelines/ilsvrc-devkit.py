#!/usr/bin/env python3
"""ilsvrc-devkit.py: the ILSVRC-2012 labels, mapped to anet's class order, as imgprep lists.

Used by pipelines/ilsvrc2012.sh. Reads
  - the train tree, TRAIN/<WNID>/*.JPEG: its sorted folder names are anet's labels 0..K-1
    (the order imgprep's class-folder mode gives),
  - the devkit's data/meta.mat (a MATLAB v5 file; its `synsets` struct maps ILSVRC2012_ID to
    WNID) or a plain text mapping with one "ILSVRC2012_ID WNID" pair a line,
  - the devkit's data/ILSVRC2012_validation_ground_truth.txt (the ILSVRC2012_ID of validation
    image n on line n) and the validation images VAL/ILSVRC2012_val_<n>.JPEG,
and writes into OUT:
  classes.txt   one class name a line, in label order (imgprep --classes)
  train.list    "WNID/FILE LABEL" lines for imgprep -l -r TRAIN
  val.list      "FILE LABEL" lines for imgprep -l -r VAL, labels mapped to the train order
  synsets.tsv   label, WNID, ILSVRC2012_ID, class name, the devkit's words
The devkit's classes (its leaf synsets) must be exactly the train tree's folders, else it
stops and says which differ; so must every ground-truth ID be one of them.

MATLAB v5 files are read with the standard library (struct + zlib), after The MathWorks'
"MAT-File Format" (R2024a), so neither MATLAB nor scipy is needed. Every write goes to a
temporary name first and is renamed into place.
"""
import argparse
import os
import re
import struct
import sys
import zlib

PROG = "ilsvrc-devkit"


class Failure(Exception):
    pass


def fail(msg):
    raise Failure(msg)


# ------------------------------------------------------------------------------------------
# MATLAB v5 (level 5) MAT-files

MI_INT8, MI_UINT8, MI_INT16, MI_UINT16, MI_INT32, MI_UINT32 = 1, 2, 3, 4, 5, 6
MI_SINGLE, MI_DOUBLE, MI_INT64, MI_UINT64 = 7, 9, 12, 13
MI_MATRIX, MI_COMPRESSED, MI_UTF8, MI_UTF16, MI_UTF32 = 14, 15, 16, 17, 18

NUMERIC = {MI_INT8: "b", MI_UINT8: "B", MI_INT16: "h", MI_UINT16: "H", MI_INT32: "i",
           MI_UINT32: "I", MI_SINGLE: "f", MI_DOUBLE: "d", MI_INT64: "q", MI_UINT64: "Q"}

MX_CELL, MX_STRUCT, MX_OBJECT, MX_CHAR, MX_SPARSE = 1, 2, 3, 4, 5
MX_NUMERIC = range(6, 16)  # double, single, int8 .. uint64


class MatReader:
    """Data elements of one buffer; every length is checked against what is left."""

    def __init__(self, data, name, endian):
        self.data, self.name, self.e = data, name, endian

    def bad(self, what, at):
        fail("%s: %s (byte %d): not a MATLAB v5 file, or a damaged one" % (self.name, what, at))

    def element(self, pos, end):
        """(type, payload bytes, position after the element)."""
        if pos + 8 > end:
            self.bad("a data element's tag runs past the end", pos)
        word, = struct.unpack_from(self.e + "I", self.data, pos)
        if word >> 16:  # the small data element format: 1..4 bytes inside the tag
            typ, n = word & 0xFFFF, word >> 16
            if n > 4:
                self.bad("a small data element claims %d bytes" % n, pos)
            return typ, self.data[pos + 4:pos + 4 + n], pos + 8
        typ, n = struct.unpack_from(self.e + "II", self.data, pos)
        start = pos + 8
        if n > end - start:
            self.bad("a data element of %d bytes runs past the end" % n, pos)
        after = start + n
        if typ != MI_COMPRESSED:  # compressed elements are not padded
            after += (-n) % 8
        return typ, self.data[start:start + n], min(after, end)

    def numbers(self, typ, payload, at):
        if typ not in NUMERIC:
            self.bad("numeric data of unknown type %d" % typ, at)
        size = struct.calcsize(NUMERIC[typ])
        if len(payload) % size:
            self.bad("numeric data of %d bytes is not whole %d-byte values" % (len(payload), size), at)
        return list(struct.unpack(self.e + NUMERIC[typ] * (len(payload) // size), payload))

    def text(self, typ, payload, at):
        if typ in (MI_UTF8, MI_UINT8, MI_INT8):
            return payload.decode("utf-8", "replace")
        if typ in (MI_UTF16, MI_UINT16):
            return payload.decode("utf-16-le" if self.e == "<" else "utf-16-be", "replace")
        if typ == MI_UTF32:
            return payload.decode("utf-32-le" if self.e == "<" else "utf-32-be", "replace")
        self.bad("character data of type %d" % typ, at)

    def matrix(self, payload, at):
        """A miMATRIX's contents as Python values: (name, value)."""
        sub = MatReader(payload, self.name, self.e)
        if not payload:  # an empty matrix (a struct field never set)
            return "", []
        typ, flags, pos = sub.element(0, len(payload))
        if typ != MI_UINT32 or len(flags) < 8:
            self.bad("an array without its flags", at)
        cls = struct.unpack_from(self.e + "I", flags, 0)[0] & 0xFF
        complex_ = struct.unpack_from(self.e + "I", flags, 0)[0] & 0x0800
        typ, dims, pos = sub.element(pos, len(payload))
        dims = sub.numbers(typ, dims, at)
        count = 1
        for d in dims:
            if d < 0:
                self.bad("a negative dimension", at)
            count *= d
        typ, name, pos = sub.element(pos, len(payload))
        name = name.decode("ascii", "replace")
        end = len(payload)
        if cls in MX_NUMERIC:
            typ, real, pos = sub.element(pos, end)
            values = sub.numbers(typ, real, at)
            if len(values) != count:
                self.bad("%s holds %d values for dimensions %s" % (name or "an array", len(values), dims), at)
            return name, values  # the imaginary part, if any, is of no use here
        if cls == MX_CHAR:
            if pos >= end:
                return name, ""
            typ, chars, pos = sub.element(pos, end)
            s = sub.text(typ, chars, at)
            if len(dims) == 2 and dims[0] > 1:  # several strings, stored column by column
                rows, cols = dims
                return name, ["".join(s[r + c * rows] for c in range(cols) if r + c * rows < len(s)).rstrip()
                              for r in range(rows)]
            return name, s
        if cls == MX_CELL:
            cells = []
            for _ in range(count):
                typ, body, pos = sub.element(pos, end)
                cells.append(sub.matrix(body, at)[1])
            return name, cells
        if cls in (MX_STRUCT, MX_OBJECT):
            if cls == MX_OBJECT:
                typ, _, pos = sub.element(pos, end)  # the class name
            typ, flen, pos = sub.element(pos, end)
            flen = sub.numbers(typ, flen, at)
            if len(flen) != 1 or flen[0] <= 0:
                self.bad("a struct without its field name length", at)
            typ, names, pos = sub.element(pos, end)
            flen = flen[0]
            if len(names) % flen:
                self.bad("a struct's field names do not fill whole %d-byte slots" % flen, at)
            fields = [names[i:i + flen].split(b"\0")[0].decode("ascii", "replace")
                      for i in range(0, len(names), flen)]
            items = []
            for _ in range(count):
                item = {}
                for f in fields:
                    typ, body, pos = sub.element(pos, end)
                    if typ != MI_MATRIX:
                        self.bad("struct field %s is not an array" % f, at)
                    item[f] = sub.matrix(body, at)[1]
                items.append(item)
            return name, items
        if cls == MX_SPARSE:
            return name, None
        self.bad("an array of unknown class %d" % cls, at)

    def variables(self):
        out, pos, end = {}, 128, len(self.data)
        while pos < end:
            at = pos
            typ, body, pos = self.element(pos, end)
            if typ == MI_COMPRESSED:
                try:
                    body = zlib.decompress(body)
                except zlib.error as e:
                    self.bad("a compressed element does not inflate (%s)" % e, at)
                inner = MatReader(body, self.name, self.e)
                typ, body, _ = inner.element(0, len(body))
                if typ == MI_MATRIX:
                    name, value = inner.matrix(body, at)
                    out[name] = value
            elif typ == MI_MATRIX:
                name, value = self.matrix(body, at)
                out[name] = value
        return out


def read_mat(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        fail("%s: %s" % (path, e.strerror))
    if len(data) < 128:
        fail("%s: %d bytes: too short for a MATLAB file" % (path, len(data)))
    if data[:6] == b"\x89HDF\r\n" or data[512:520] == b"\x89HDF\r\n\x1a\n":
        fail("%s: a MATLAB v7.3 (HDF5) file; save it as v7 (-v7) or give the text mapping" % path)
    mark = data[126:128]
    if mark == b"IM":
        endian = "<"
    elif mark == b"MI":
        endian = ">"
    else:
        fail("%s: not a MATLAB v5 file (no IM/MI mark at byte 126)" % path)
    return MatReader(data, path, endian).variables()


def scalar(v):
    if isinstance(v, list):
        return v[0] if len(v) == 1 else None
    return v


def synsets_from_mat(path):
    """[(ILSVRC2012_ID, WNID, words)] of the leaf synsets."""
    synsets = read_mat(path).get("synsets")
    if not isinstance(synsets, list) or not synsets or not isinstance(synsets[0], dict):
        fail("%s: holds no struct array 'synsets' (the devkit's data/meta.mat has one)" % path)
    out = []
    for i, s in enumerate(synsets):
        sid, wnid = scalar(s.get("ILSVRC2012_ID")), s.get("WNID")
        if sid is None or not isinstance(wnid, str):
            fail("%s: synsets(%d) lacks ILSVRC2012_ID or WNID" % (path, i + 1))
        kids = scalar(s.get("num_children", [0]))
        if kids:  # an inner node of the hierarchy, not a class
            continue
        words = s.get("words", "")
        out.append((int(sid), wnid.strip(), words if isinstance(words, str) else ""))
    return out


def synsets_from_text(path):
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                parts = line.split(None, 2)
                if len(parts) < 2 or not parts[0].isdigit():
                    fail("%s:%d: expected 'ILSVRC2012_ID WNID [words]'" % (path, n))
                out.append((int(parts[0]), parts[1], parts[2] if len(parts) > 2 else ""))
    except OSError as e:
        fail("%s: %s" % (path, e.strerror))
    return out


# ------------------------------------------------------------------------------------------


def listdir_sorted(path, what):
    try:
        return sorted(e for e in os.listdir(path) if not e.startswith("."))
    except OSError as e:
        fail("%s: %s (%s)" % (path, e.strerror, what))


def class_names(classes, words, style):
    """The names pictures show: the first synonym of the devkit's words, made unique with the
    WNID where two synsets share it ("crane"), or the WNIDs themselves."""
    if style == "wnid":
        return list(classes)
    first = [(words.get(w, "") or w).split(",")[0].strip() or w for w in classes]
    seen = {}
    for name in first:
        seen[name] = seen.get(name, 0) + 1
    return [n if seen[n] == 1 else "%s (%s)" % (n, w) for n, w in zip(first, classes)]


def write_atomic(path, lines):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def run(a):
    synsets = synsets_from_text(a.synsets) if a.synsets else synsets_from_mat(a.meta)
    source = a.synsets or a.meta
    by_id, words = {}, {}
    for sid, wnid, w in synsets:
        if sid in by_id:
            fail("%s: ILSVRC2012_ID %d appears twice" % (source, sid))
        by_id[sid] = wnid
        words[wnid] = w
    classes = listdir_sorted(a.train, "the train tree")
    classes = [c for c in classes if os.path.isdir(os.path.join(a.train, c))]
    if not classes:
        fail("%s: no class folders (expected TRAIN/<WNID>/*.JPEG)" % a.train)
    devkit, tree = set(by_id.values()), set(classes)
    if devkit != tree:
        only_dev, only_tree = sorted(devkit - tree), sorted(tree - devkit)
        msg = "%s and %s do not hold the same classes" % (source, a.train)
        if only_dev:
            msg += "\n  in the devkit, not in the train tree (%d): %s" % (len(only_dev), " ".join(only_dev[:10]))
        if only_tree:
            msg += "\n  in the train tree, not in the devkit (%d): %s" % (len(only_tree), " ".join(only_tree[:10]))
        fail(msg + ("\n  ..." if max(len(only_dev), len(only_tree)) > 10 else ""))
    label = {w: i for i, w in enumerate(classes)}

    train = []
    for w in classes:
        for f in listdir_sorted(os.path.join(a.train, w), "class " + w):
            if os.path.isfile(os.path.join(a.train, w, f)):
                train.append("%s/%s %d" % (w, f, label[w]))

    try:
        with open(a.ground_truth, encoding="utf-8") as f:
            truth = [line.strip() for line in f if line.strip()]
    except OSError as e:
        fail("%s: %s" % (a.ground_truth, e.strerror))
    gt = []
    for n, t in enumerate(truth, 1):
        if not t.isdigit() or int(t) not in by_id:
            fail("%s:%d: '%s' is not an ILSVRC2012_ID of %s" % (a.ground_truth, n, t, source))
        gt.append(label[by_id[int(t)]])
    val, pattern = [], re.compile(r"ILSVRC2012_val_(\d{8})\.JPEG$", re.IGNORECASE)
    for f in listdir_sorted(a.val, "the validation images"):
        m = pattern.match(f)
        if not m:
            continue
        n = int(m.group(1))
        if not 1 <= n <= len(gt):
            fail("%s: %s has no line in %s (%d lines)" % (a.val, f, a.ground_truth, len(gt)))
        val.append("%s %d" % (f, gt[n - 1]))
    if not val:
        fail("%s: no ILSVRC2012_val_NNNNNNNN.JPEG images" % a.val)
    if len(val) != len(gt):
        print("%s: using the %d validation images present of the %d in %s" % (PROG, len(val), len(gt), a.ground_truth),
              file=sys.stderr)

    names = class_names(classes, words, a.names)
    ids = {w: sid for sid, w in by_id.items()}
    os.makedirs(a.out, exist_ok=True)
    write_atomic(os.path.join(a.out, "classes.txt"), names)
    write_atomic(os.path.join(a.out, "train.list"), train)
    write_atomic(os.path.join(a.out, "val.list"), val)
    write_atomic(os.path.join(a.out, "synsets.tsv"),
                 ["label\twnid\tilsvrc2012_id\tname\twords"] +
                 ["%d\t%s\t%d\t%s\t%s" % (i, w, ids[w], names[i], words.get(w, "")) for i, w in enumerate(classes)])
    print("%s: %d classes; %d training and %d validation images; labels mapped from %s" %
          (PROG, len(classes), len(train), len(val), source), file=sys.stderr)


def main():
    p = argparse.ArgumentParser(prog=PROG, description="ILSVRC-2012 labels in anet's class order, as imgprep lists.")
    p.add_argument("--train", required=True, help="the train tree, TRAIN/<WNID>/*.JPEG")
    p.add_argument("--val", required=True, help="the folder of ILSVRC2012_val_*.JPEG")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--meta", help="the devkit's data/meta.mat")
    g.add_argument("--synsets", help="a text mapping, 'ILSVRC2012_ID WNID [words]' a line")
    p.add_argument("--ground-truth", required=True, help="data/ILSVRC2012_validation_ground_truth.txt")
    p.add_argument("--names", choices=("words", "wnid"), default="words",
                   help="class names: the first of the synset's words (default) or the WNID")
    p.add_argument("--out", required=True, help="the folder for the lists")
    a = p.parse_args()
    try:
        run(a)
    except Failure as e:
        print("%s: %s" % (PROG, e), file=sys.stderr)
        return 1
    except OSError as e:
        print("%s: %s" % (PROG, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
