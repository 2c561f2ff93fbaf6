"""cltrain: fine-tune ImageNet-style CNNs on any OpenCL device, from Python.

A thin layer over the C API (cltrain.h) through ctypes; images are numpy arrays as cv2 gives
them (BGR, uint8, or float in [0, 1]). Every failure raises cltrain.Error with the C status and
message (which names the file, node or image at fault)."""
import ctypes as C

import numpy as np

from . import _lib
from ._lib import lib

__all__ = ["Error", "devices", "version", "Model", "train"]

_STATUS_NAMES = ["OK", "ARG", "DEVICE", "OPENCL", "BUILD", "CLBLAST", "OUT_OF_MEMORY", "IO",
                 "FORMAT", "UNSUPPORTED", "OPENCV", "NUMERIC", "INTERNAL", "TIMEOUT"]


class Error(Exception):
    """A failed cltrain call: .status (the C cltrain_status number), .status_name
    ("CLTRAIN_ERR_IO"), .message (cltrain_last_error's detail)."""

    def __init__(self, status, message):
        self.status = status
        self.status_name = "CLTRAIN_ERR_" + _STATUS_NAMES[status] if 0 < status < len(_STATUS_NAMES) else str(status)
        self.message = message
        super().__init__("%s: %s" % (lib.cltrain_status_str(status).decode(), message))


def _check(status, cx=None):
    if status != 0:
        raise Error(status, lib.cltrain_last_error(cx).decode(errors="replace"))


def _bytes(s):
    return None if s is None else str(s).encode()


def version():
    return lib.cltrain_version().decode()


def devices():
    """Every OpenCL device, as dicts: selector ("P:D"), name, platform, type, is_default, ..."""
    n = C.c_int(0)
    _check(lib.cltrain_devices(None, 0, C.byref(n)))
    arr = (_lib.DeviceInfo * max(n.value, 1))()
    _check(lib.cltrain_devices(arr, n.value, C.byref(n)))
    types = {1: "cpu", 2: "gpu", 4: "accelerator", 8: "other"}
    return [{"selector": "%d:%d" % (d.platform_index, d.device_index), "name": d.name.decode(),
             "platform": d.platform.decode(), "vendor": d.vendor.decode(),
             "type": types.get(d.type, "other"), "is_default": bool(d.is_default),
             "compute_units": d.compute_units, "global_mem_bytes": d.global_mem_bytes,
             "version": d.version.decode()} for d in arr[:n.value]]


class _Context:
    """One OpenCL device and queue (cltrain_context); one per thread (cltrain.h)."""

    def __init__(self, device=None):
        self.ptr = C.c_void_p()
        _check(lib.cltrain_context_create(_bytes(device), C.byref(self.ptr)))

    def close(self):
        if self.ptr:
            lib.cltrain_context_destroy(self.ptr)
            self.ptr = C.c_void_p()

    def __del__(self):
        self.close()


def _f32(a, what, ndim=None):
    a = np.ascontiguousarray(a, dtype=np.float32)
    if ndim is not None and a.ndim != ndim:
        raise ValueError("%s must have %d dimensions, got shape %s" % (what, ndim, a.shape))
    return a


def _as_bgr8(img, i):
    """A cv2 image (H, W, 3) BGR, uint8 or float in [0, 1], as contiguous uint8."""
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError("images[%d] must be (H, W, 3) BGR as cv2 gives it, got shape %s" % (i, img.shape))
    if img.dtype == np.uint8:
        return np.ascontiguousarray(img)
    if img.dtype.kind == "f":
        if img.size and (np.nanmin(img) < 0 or np.nanmax(img) > 1 or np.isnan(img).any()):
            raise ValueError("images[%d] is float but not in [0, 1]" % i)
        return np.ascontiguousarray(np.rint(img * 255.0).astype(np.uint8))
    raise ValueError("images[%d] has dtype %s; use uint8 or float in [0, 1]" % (i, img.dtype))


class Model:
    """A trainable model (cltrain_model) on its own context."""

    def __init__(self, cx, ptr):
        self._cx, self._ptr = cx, ptr

    @classmethod
    def load(cls, path, device=None, input_size=None):
        """Reads an ONNX model through cv::dnn onto `device` ("P:D", gpu, cpu, a name; None:
        $CLTRAIN_DEVICE or the default). input_size: (h, w) or a side, else the model's."""
        cx = _Context(device)
        ptr = C.c_void_p()
        _check(lib.cltrain_model_load_onnx(cx.ptr, _bytes(path), C.byref(ptr)), cx.ptr)
        m = cls(cx, ptr)
        if input_size is not None:
            h, w = (input_size, input_size) if np.isscalar(input_size) else input_size
            m._call(lib.cltrain_model_set_input_size, int(h), int(w))
        return m

    def _call(self, fn, *args):
        _check(fn(self._ptr, *args), self._cx.ptr)

    def close(self):
        if self._ptr:
            lib.cltrain_model_destroy(self._ptr)
            self._ptr = C.c_void_p()
        self._cx.close()

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def info(self):
        i = _lib.ModelInfo()
        self._call(lib.cltrain_model_get_info, C.byref(i))
        return {f: getattr(i, f) for f, _ in i._fields_}

    def tensor_names(self):
        names, i = [], 0
        while True:
            n = lib.cltrain_model_tensor_name(self._ptr, i)
            if n is None:
                return names
            names.append(n.decode())
            i += 1

    def _tensor(self, fn, name):
        count = C.c_size_t(0)
        self._call(fn, _bytes(name), None, 0, C.byref(count))
        out = np.empty(count.value, dtype=np.float32)
        self._call(fn, _bytes(name), out.ctypes.data_as(_lib.c_float_p), out.size, None)
        return out

    def param(self, name):
        """A tensor by its state_dict name, flattened."""
        return self._tensor(lib.cltrain_model_get_param, name)

    def grad(self, name):
        return self._tensor(lib.cltrain_model_get_grad, name)

    def train(self, mode=True):
        """Train mode (batch-statistics BN) or eval mode, as torch's model.train()/.eval()."""
        self._call(lib.cltrain_model_set_train, int(bool(mode)))
        return self

    def freeze(self, spec="all"):
        """"none", "all", "upto:NAME", or "A,B,..." (cltrain_model_freeze)."""
        self._call(lib.cltrain_model_freeze, _bytes(spec))
        return self

    def replace_head(self, num_classes, hidden=(), dropout=0.0, seed=0):
        h = lib.cltrain_head_defaults()
        hid = (C.c_int * max(len(hidden), 1))(*hidden)
        h.num_classes, h.hidden, h.num_hidden = int(num_classes), hid, len(hidden)
        h.dropout, h.seed = float(dropout), int(seed)
        self._call(lib.cltrain_model_replace_head, C.byref(h))
        return self

    def forward(self, batch):
        """Logits (n, classes) of a float batch (n, 3, H, W): RGB, normalised."""
        x = _f32(batch, "batch", 4)
        out = np.empty((x.shape[0], self.info["num_classes"]), dtype=np.float32)
        self._call(lib.cltrain_model_forward, x.ctypes.data_as(_lib.c_float_p), x.shape[0],
                   out.ctypes.data_as(_lib.c_float_p))
        return out

    def loss_grad(self, batch, labels):
        """Mean cross-entropy of (batch, labels) and its gradients (read them with .grad(name));
        returns (loss, logits)."""
        x = _f32(batch, "batch", 4)
        y = np.ascontiguousarray(labels, dtype=np.int32)
        if y.shape != (x.shape[0],):
            raise ValueError("labels must have shape (%d,), got %s" % (x.shape[0], y.shape))
        loss = C.c_float()
        logits = np.empty((x.shape[0], self.info["num_classes"]), dtype=np.float32)
        self._call(lib.cltrain_model_loss_grad, x.ctypes.data_as(_lib.c_float_p),
                   y.ctypes.data_as(_lib.c_int_p), x.shape[0], C.byref(loss),
                   logits.ctypes.data_as(_lib.c_float_p))
        return loss.value, logits

    def sgd_step(self, lr=0.001, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False,
                 backbone_lr_mult=1.0):
        """One torch.optim.SGD step from the last loss_grad's gradients."""
        o = lib.cltrain_sgd_defaults()
        o.lr, o.momentum, o.dampening, o.weight_decay = lr, momentum, dampening, weight_decay
        o.nesterov, o.backbone_lr_mult = int(bool(nesterov)), backbone_lr_mult
        self._call(lib.cltrain_model_sgd_step, C.byref(o))

    def export(self, path, class_names=None):
        """An inference ONNX file that cv::dnn loads, verified, written atomically."""
        names = [_bytes(n) for n in (class_names or [])]
        arr = (C.c_char_p * max(len(names), 1))(*names)
        self._call(lib.cltrain_model_export_onnx, _bytes(path), arr if names else None, len(names))

    def _softmax(self, logits):
        probs = np.empty_like(logits)
        _check(lib.cltrain_softmax(logits.ctypes.data_as(_lib.c_float_p), logits.shape[0],
                                   logits.shape[1], probs.ctypes.data_as(_lib.c_float_p)))
        return probs

    def predict(self, images, logits=False):
        """Probabilities (n, classes) of a list of cv2 images (H, W, 3), BGR, uint8 or float in
        [0, 1], through the tutorial's eval transform (the C path's, bit for bit)."""
        imgs = [_as_bgr8(im, i) for i, im in enumerate(images)]
        if not imgs:
            raise ValueError("predict needs at least one image")
        arr = (_lib.Image * len(imgs))()
        for a, im in zip(arr, imgs):
            a.data, a.height, a.width, a.stride = im.ctypes.data, im.shape[0], im.shape[1], im.strides[0]
        out = np.empty((len(imgs), self.info["num_classes"]), dtype=np.float32)
        self._call(lib.cltrain_model_predict_images, arr, len(imgs), out.ctypes.data_as(_lib.c_float_p))
        return out if logits else self._softmax(out)

    def predict_files(self, paths, logits=False):
        """As predict(), for image files (decoded by OpenCV)."""
        arr = (C.c_char_p * len(paths))(*[_bytes(p) for p in paths])
        out = np.empty((len(paths), self.info["num_classes"]), dtype=np.float32)
        self._call(lib.cltrain_model_predict_files, arr, len(paths), out.ctypes.data_as(_lib.c_float_p))
        return out if logits else self._softmax(out)


_SGD_KEYS = {"lr", "momentum", "dampening", "weight_decay", "nesterov", "backbone_lr_mult"}


def train(model, data, out, freeze="none", epochs=25, on_epoch=None, device=None, progress=True,
          head_hidden=(), **options):
    """PyTorch's transfer-learning tutorial's train_model (cltrain_train_run): fine-tunes the ONNX
    `model` on the ImageFolder pair data/train, data/val, and exports the chosen weights to `out`.
    Other options are cltrain_train_options' fields (batch_size, image_size, augment, seed,
    num_classes, ...) and SGD's (lr, momentum, ...). on_epoch(stats_dict) runs after every epoch;
    a tqdm progress bar shows when tqdm is installed and progress is true. Returns the history:
    one dict per epoch, plus "result", the run's totals."""
    o = lib.cltrain_train_defaults()
    keep = []  # byte strings and arrays o points into, alive for the call
    for k, v in [("model_path", model), ("data_dir", data), ("out_path", out), ("freeze", freeze)]:
        keep.append(_bytes(v))
        setattr(o, k, keep[-1])
    o.epochs = int(epochs)
    if head_hidden:
        hid = (C.c_int * len(head_hidden))(*head_hidden)
        keep.append(hid)
        o.head_hidden, o.num_hidden = hid, len(head_hidden)
    for k, v in options.items():
        target = o.sgd if k in _SGD_KEYS else o
        if not hasattr(target, k) or k in ("size", "sgd", "user", "on_progress", "on_epoch"):
            raise TypeError("train() got an unknown option %r" % k)
        if isinstance(v, str) or (v is None and isinstance(getattr(target, k), (bytes, type(None)))):
            keep.append(_bytes(v))
            v = keep[-1]
        elif isinstance(v, bool):
            v = int(v)
        setattr(target, k, v)

    history = []
    bar = [None]
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None

    def epoch_cb(p, user):
        s = p.contents
        d = {f: getattr(s, f) for f, _ in s._fields_}
        d["is_best"] = bool(d["is_best"])
        history.append(d)
        if on_epoch:
            on_epoch(d)

    def progress_cb(p, user):
        s = p.contents
        if bar[0] is None or bar[0].total != s.num_batches or s.batch == 1:
            if bar[0] is not None:
                bar[0].close()
            bar[0] = tqdm(total=s.num_batches, desc="epoch %d/%d %s" % (
                s.epoch + 1, s.epochs, "train" if s.phase == 0 else "val"), leave=False)
        bar[0].n = s.batch
        bar[0].set_postfix(loss="%.4f" % s.loss, acc="%.3f" % s.acc, refresh=False)
        bar[0].refresh()

    o.on_epoch = _lib.EPOCH_FN(epoch_cb)
    if tqdm is not None and progress:
        o.on_progress = _lib.PROGRESS_FN(progress_cb)
    cx = _Context(device)
    r = _lib.TrainResult.new()
    try:
        _check(lib.cltrain_train_run(cx.ptr, C.byref(o), C.byref(r)), cx.ptr)
    finally:
        if bar[0] is not None:
            bar[0].close()
        cx.close()
    result = {f: getattr(r, f) for f, _ in r._fields_ if f != "size"}
    result["cache_node"] = r.cache_node.decode()
    return {"epochs": history, "result": result}
