"""test_cltrain.py: the Python package against the C paths, on the refs fixture's ResNet-18
(whole_r18_bn.onnx) at small input sizes. Run by ctest (python_package) with CLTRAIN_LIBRARY,
CLTRAIN_REF_DIR and CLTRAIN_BIN set; PYTHONPATH points at python/."""
import glob
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

import cltrain

REF = os.environ["CLTRAIN_REF_DIR"]
BIN = os.environ["CLTRAIN_BIN"]
SRC = os.environ["CLTRAIN_SOURCE_DIR"]
MODEL = os.path.join(REF, "whole_r18_bn.onnx")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Tiny ImageFolders (cat/dog, 4 train and 2 val JPEGs each) drawn by the CLI tests' script."""
    root = tmp_path_factory.mktemp("folders")
    subprocess.run([sys.executable, os.path.join(SRC, "test/common/image_folders.py"), str(root)], check=True)
    return root


def test_structs_match_the_header():
    """The ctypes mirrors of the sized options structs are as large as the C ones: a shorter one
    is overrun by cltrain_train_defaults()'s return and read past by cltrain_train_run."""
    from cltrain import _lib
    import ctypes
    assert _lib.lib.cltrain_train_defaults().size == ctypes.sizeof(_lib.TrainOptions)
    assert _lib.lib.cltrain_sgd_defaults().size == ctypes.sizeof(_lib.SgdOptions)
    # The result struct has no defaults function in the library (cltrain_train_result_init is
    # inline): a size past the library's is refused, and the message says the library's size.
    r = _lib.TrainResult.new()
    r.size += 8
    cx = cltrain._Context()
    try:
        o = _lib.lib.cltrain_train_defaults()
        assert _lib.lib.cltrain_train_run(cx.ptr, ctypes.byref(o), ctypes.byref(r)) != 0
        msg = _lib.lib.cltrain_last_error(cx.ptr).decode()
    finally:
        cx.close()
    assert "cltrain_train_result.size is %d," % r.size in msg
    assert "at most %d bytes" % ctypes.sizeof(_lib.TrainResult) in msg, msg


def test_devices():
    d = cltrain.devices()
    assert d and sum(x["is_default"] for x in d) == 1
    assert all(x["name"] and ":" in x["selector"] for x in d)


def test_numpy_blas_after_cltrain_restarts_it():
    """Where numpy's BLAS is the OpenBLAS cltrain loads (Debian's), cltrain's first context
    restarts its thread pool with a short spin (runtime/gemm_native.c): numpy's products stay
    bitwise what they were, and the environment is left as it was. A fresh process, so that
    this one's earlier tests have not restarted it already."""
    code = (
        "import ctypes, os, numpy as np, cltrain\n"
        "a = np.random.default_rng(5).standard_normal((400, 300)).astype(np.float32)\n"
        "before = a @ a.T\n"
        "user_set = os.environ.get('OPENBLAS_THREAD_TIMEOUT')\n"
        "cltrain._Context().close()\n"
        "after = a @ a.T\n"
        "assert after.tobytes() == before.tobytes()\n"
        "ref = a.astype(np.float64) @ a.T.astype(np.float64)\n"
        "assert np.linalg.norm(after - ref) / np.linalg.norm(ref) < 1e-6\n"  # float32, k = 300
        "libc = ctypes.CDLL(None); libc.getenv.restype = ctypes.c_char_p\n"
        "now = libc.getenv(b'OPENBLAS_THREAD_TIMEOUT')\n"
        "assert now == (user_set.encode() if user_set else None), now\n"
        "maps = [l.split()[-1] for l in open('/proc/self/maps') if 'libopenblas' in l]\n"
        "dev = [d for d in cltrain.devices() if d['is_default']][0]\n"
        "if maps and not user_set and dev['type'] == 'cpu' and 'Portable' in dev['platform']:\n"
        "    got = ctypes.CDLL(maps[0]).openblas_thread_timeout()\n"  # PoCL: the native GEMM
        "    assert got == 4, got\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_predict_images_equal_files_bitwise():
    """cv2 images in memory go through the same eval transform as the C path's decoded files:
    bitwise the same logits, for uint8 BGR and for float BGR in [0, 1]."""
    paths = sorted(glob.glob(os.path.join(REF, "eval_folder/*/*")))
    assert len(paths) >= 3
    with cltrain.Model.load(MODEL, input_size=32) as m:
        m.replace_head(4, seed=3)
        want = m.predict_files(paths, logits=True)
        imgs = [cv2.imread(p, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION) for p in paths]
        got = m.predict(imgs, logits=True)
        assert got.tobytes() == want.tobytes()
        got_f = m.predict([im.astype(np.float32) / 255 for im in imgs], logits=True)
        assert got_f.tobytes() == want.tobytes()
        probs = m.predict(imgs)
        assert probs.shape == (len(paths), 4)
        # cltrain_softmax in double, as torch.softmax: rows sum to 1 within float32 rounding
        assert np.allclose(probs.sum(axis=1), 1, atol=1e-6)


def test_train_step_matches_manual_repeat():
    """forward, loss_grad and sgd_step are deterministic: two models from the same file and seed
    take the same steps bitwise, and a step moves the head's weights by -lr * grad (no momentum
    at the first step; rel. tolerance 1e-6, float32 rounding of w - lr*g)."""
    rng = np.random.default_rng(5)
    x = rng.uniform(-2, 2, (2, 3, 32, 32)).astype(np.float32)
    y = np.array([0, 2])
    runs = []
    for _ in range(2):
        with cltrain.Model.load(MODEL, input_size=32) as m:
            m.replace_head(3, seed=7).freeze("all").train(True)
            w0 = m.param("fc.weight")
            loss, logits = m.loss_grad(x, y)
            g = m.grad("fc.weight")
            m.sgd_step(lr=0.1)
            w1 = m.param("fc.weight")
            assert np.linalg.norm(w1 - (w0 - 0.1 * g)) <= 1e-6 * np.linalg.norm(w0)
            assert np.isfinite(loss) and logits.shape == (2, 3)
            runs.append((loss, logits.tobytes(), w1.tobytes(), m.forward(x).tobytes()))
    assert runs[0] == runs[1]


def test_train_exports_the_cli_bytes(folders, tmp_path):
    """cltrain.train and `cltrain train` with the same settings export the same file."""
    flags = dict(freeze="all", epochs=2, batch_size=2, image_size=32, seed=3, lr=0.01, workers=1)
    cli = tmp_path / "cli.onnx"
    subprocess.run([BIN, "train", "--model", MODEL, "--data", str(folders / "ok"), "--out", str(cli),
                    "--freeze", "all", "--epochs", "2", "--batch", "2", "--image-size", "32",
                    "--seed", "3", "--lr", "0.01", "--workers", "1"], check=True, capture_output=True)
    seen = []
    py = tmp_path / "py.onnx"
    h = cltrain.train(model=MODEL, data=folders / "ok", out=py, on_epoch=seen.append, **flags)
    assert len(h["epochs"]) == 2 and seen == h["epochs"]
    assert h["result"]["epochs_done"] == 2 and h["result"]["num_classes"] == 2
    assert py.read_bytes() == cli.read_bytes()


def test_bad_input_names_the_culprit(folders, tmp_path):
    with pytest.raises(cltrain.Error) as e:
        cltrain.Model.load(str(tmp_path / "missing.onnx"))
    assert e.value.status_name == "CLTRAIN_ERR_IO" and "missing.onnx" in e.value.message
    with pytest.raises(cltrain.Error) as e:
        cltrain.Model.load(os.path.join(REF, "bad_unsupported.onnx"))
    assert e.value.status_name == "CLTRAIN_ERR_UNSUPPORTED"
    with pytest.raises(cltrain.Error) as e:
        cltrain.Model.load(MODEL, device="no-such-device")
    assert e.value.status_name == "CLTRAIN_ERR_DEVICE" and "no-such-device" in e.value.message
    with cltrain.Model.load(MODEL, input_size=32) as m:
        ok = np.zeros((40, 50, 3), np.uint8)
        with pytest.raises(ValueError, match=r"images\[1\]"):
            m.predict([ok, np.zeros((40, 50), np.uint8)])
        with pytest.raises(cltrain.Error, match=r"images\[1\]") as e:
            m.predict([ok, np.zeros((0, 50, 3), np.uint8)])
        assert e.value.status_name == "CLTRAIN_ERR_ARG"
        with pytest.raises(cltrain.Error, match="no layer is named 'layer9'"):
            m.freeze("upto:layer9")
        with pytest.raises(cltrain.Error, match="learning rate"):
            m.loss_grad(np.zeros((1, 3, 32, 32), np.float32), [0])
            m.sgd_step(lr=-1)
    out = tmp_path / "out.onnx"
    with pytest.raises(cltrain.Error) as e:
        cltrain.train(model=MODEL, data=folders / "noval", out=out, epochs=1, image_size=32)
    assert "noval" in e.value.message and not out.exists()
    with pytest.raises(TypeError, match="'epoch_count'"):
        cltrain.train(model=MODEL, data=folders / "ok", out=out, epoch_count=1)
