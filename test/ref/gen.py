#!/usr/bin/python3
"""Writes every reference tensor the C tests read, once per build (the ctest fixture gen_refs).

Each test/ref/ref_<family>.py defines generate(w), and calls w.case(name, **tensors) for each
test case. Torch is imported once here, for all of them. A stamp (a hash of these scripts and of
torch's version) skips the work when nothing changed since the last run.
"""
import hashlib
import importlib.util
import os
import sys
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # ref scripts may share helpers (e.g. ref_whole.make_resnet18)


class Writer:
    """Writes <out>/<case>.ref files in the CLTREF 1 format that test/common/reftensor.c reads."""

    def __init__(self, out):
        self.out = Path(out)
        self.count = 0

    def case(self, name, **tensors):
        path = self.out / f"{name}.ref"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(b"CLTREF 1\n")
            for key, value in tensors.items():
                if hasattr(value, "detach"):
                    value = value.detach().cpu().numpy()
                a = np.asarray(value)
                if a.dtype == np.float64:
                    code = "f64"
                elif a.dtype.kind == "f":
                    a, code = a.astype("<f4"), "f32"
                elif a.dtype.kind in "iub":
                    a, code = a.astype("<i4"), "i32"
                else:
                    raise TypeError(f"{name}.{key}: unsupported dtype {a.dtype}")
                dims = " ".join(str(d) for d in a.shape)
                f.write(f"{key} {code} {a.ndim}{' ' if dims else ''}{dims}\n".encode())
                f.write(np.ascontiguousarray(a).tobytes())
        os.replace(tmp, path)
        self.count += 1


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    only = set(sys.argv[2:])  # optional: run just these ref_<name>.py scripts
    scripts = [p for p in sorted(HERE.glob("ref_*.py")) if not only or p.stem in only]
    import torch

    torch.set_num_threads(2)
    w = Writer(out)
    failed = []
    for p in scripts:
        # One stamp per script: a change to one family's references regenerates only those.
        h = hashlib.sha256(torch.__version__.encode() + Path(__file__).read_bytes() + p.read_bytes())
        stamp = out / f"{p.stem}.stamp"
        if stamp.exists() and stamp.read_text() == h.hexdigest():
            print(f"{p.name}: up to date")
            continue
        try:
            spec = importlib.util.spec_from_file_location(p.stem, p)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            mod.generate(w)
        except Exception:
            traceback.print_exc()
            failed.append(p.name)
            continue
        stamp.write_text(h.hexdigest())
        print(f"{p.name}: written")
    print(f"wrote {w.count} reference cases to {out}")
    if failed:
        sys.exit(f"reference generation failed in: {', '.join(failed)}")


if __name__ == "__main__":
    main()
