"""_lib.py: loads libcltrain.so.0 and declares the C API of cltrain.h for ctypes.
The struct layouts below mirror cltrain.h field for field; each options struct starts with its
size, which the C *_defaults() functions set (so Python never fills one from scratch)."""
import ctypes as C
import os

c_int_p = C.POINTER(C.c_int)
c_float_p = C.POINTER(C.c_float)


def _load():
    """$CLTRAIN_LIBRARY, else a libcltrain.so.0 next to this package, else the loader's path."""
    tried = []
    env = os.environ.get("CLTRAIN_LIBRARY")
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libcltrain.so.0")
    for path in ([env] if env else []) + [here, "libcltrain.so.0"]:
        if path != "libcltrain.so.0" and not os.path.exists(path):
            tried.append(path + " (missing)")
            continue
        try:
            return C.CDLL(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise ImportError("cltrain: cannot load libcltrain.so.0; tried " + "; ".join(tried) +
                      ". Set CLTRAIN_LIBRARY to its path, or add the install prefix's lib/ to "
                      "LD_LIBRARY_PATH")


class DeviceInfo(C.Structure):
    _fields_ = [("platform_index", C.c_int), ("device_index", C.c_int), ("type", C.c_int),
                ("is_default", C.c_int), ("compute_units", C.c_uint),
                ("global_mem_bytes", C.c_uint64), ("max_alloc_bytes", C.c_uint64),
                ("platform", C.c_char * 128), ("name", C.c_char * 128), ("vendor", C.c_char * 128),
                ("version", C.c_char * 64), ("c_version", C.c_char * 64)]


class ModelInfo(C.Structure):
    _fields_ = [("num_nodes", C.c_int), ("num_param_layers", C.c_int), ("num_stages", C.c_int),
                ("num_classes", C.c_int), ("in_c", C.c_int), ("in_h", C.c_int), ("in_w", C.c_int),
                ("num_params", C.c_size_t), ("device_bytes", C.c_size_t)]


class HeadOptions(C.Structure):
    _fields_ = [("size", C.c_size_t), ("num_classes", C.c_int), ("hidden", c_int_p),
                ("num_hidden", C.c_int), ("dropout", C.c_float), ("seed", C.c_uint64)]


class SgdOptions(C.Structure):
    _fields_ = [("size", C.c_size_t), ("lr", C.c_double), ("momentum", C.c_double),
                ("dampening", C.c_double), ("weight_decay", C.c_double), ("nesterov", C.c_int),
                ("backbone_lr_mult", C.c_double)]


class Progress(C.Structure):
    _fields_ = [(n, C.c_int) for n in ("epoch", "epochs", "phase", "batch", "num_batches", "images")] + \
               [(n, C.c_double) for n in ("loss", "acc", "lr", "seconds", "images_per_s")]


class EpochStats(C.Structure):
    _fields_ = [("epoch", C.c_int), ("epochs", C.c_int)] + \
               [(n, C.c_double) for n in ("train_loss", "train_acc", "val_loss", "val_acc", "lr",
                                          "train_seconds", "val_seconds", "train_images_per_s",
                                          "val_images_per_s", "data_wait")] + \
               [("steps", C.c_longlong), ("is_best", C.c_int)]


PROGRESS_FN = C.CFUNCTYPE(None, C.POINTER(Progress), C.c_void_p)
EPOCH_FN = C.CFUNCTYPE(None, C.POINTER(EpochStats), C.c_void_p)


class TrainOptions(C.Structure):
    _fields_ = [("size", C.c_size_t), ("model_path", C.c_char_p), ("data_dir", C.c_char_p),
                ("out_path", C.c_char_p), ("num_classes", C.c_int), ("freeze", C.c_char_p),
                ("frozen_bn", C.c_int), ("head_hidden", c_int_p), ("num_hidden", C.c_int),
                ("dropout", C.c_float), ("epochs", C.c_int), ("max_steps", C.c_longlong),
                ("batch_size", C.c_int), ("sgd", SgdOptions), ("step_size", C.c_int),
                ("gamma", C.c_double), ("augment", C.c_int), ("shuffle", C.c_int),
                ("seed", C.c_uint64), ("keep_best", C.c_int), ("workers", C.c_int),
                ("skip_bad", C.c_int), ("image_size", C.c_int), ("log_csv", C.c_char_p),
                ("plot_png", C.c_char_p), ("checkpoint", C.c_char_p), ("resume", C.c_char_p),
                ("cache_features", C.c_int), ("on_progress", PROGRESS_FN), ("on_epoch", EPOCH_FN),
                ("user", C.c_void_p), ("mpi_comm", C.c_void_p), ("mpi_timeout", C.c_double)]


class TrainResult(C.Structure):
    """cltrain_train_result; `size` (cltrain_train_result_init's) is set by TrainResult.new()."""
    _fields_ = [("size", C.c_size_t), ("num_classes", C.c_int), ("epochs_done", C.c_int), ("steps", C.c_longlong),
                ("best_val_acc", C.c_double), ("best_epoch", C.c_int), ("last_val_acc", C.c_double),
                ("seconds", C.c_double), ("loader_wait_seconds", C.c_double),
                ("train_seconds", C.c_double), ("skipped", C.c_int), ("exported_best", C.c_int),
                ("features_cached", C.c_int), ("cache_node", C.c_char * 96), ("cache_mib", C.c_double),
                ("ranks", C.c_int), ("allreduce_seconds", C.c_double), ("allreduce_exposed_seconds", C.c_double),
                ("floats_reduced_per_step", C.c_double)]

    @classmethod
    def new(cls):
        r = cls()
        r.size = C.sizeof(cls)
        return r


class Image(C.Structure):
    _fields_ = [("data", C.c_void_p), ("height", C.c_int), ("width", C.c_int), ("stride", C.c_size_t)]


lib = _load()
_P = C.c_void_p
_S = C.c_int  # cltrain_status
for name, res, args in [
    ("cltrain_status_str", C.c_char_p, [_S]),
    ("cltrain_version", C.c_char_p, []),
    ("cltrain_devices", _S, [C.POINTER(DeviceInfo), C.c_int, c_int_p]),
    ("cltrain_context_create", _S, [C.c_char_p, C.POINTER(_P)]),
    ("cltrain_context_destroy", None, [_P]),
    ("cltrain_context_set_option", _S, [_P, C.c_int, C.c_int]),
    ("cltrain_last_error", C.c_char_p, [_P]),
    ("cltrain_model_load_onnx", _S, [_P, C.c_char_p, C.POINTER(_P)]),
    ("cltrain_model_destroy", None, [_P]),
    ("cltrain_model_get_info", _S, [_P, C.POINTER(ModelInfo)]),
    ("cltrain_model_set_input_size", _S, [_P, C.c_int, C.c_int]),
    ("cltrain_model_set_train", _S, [_P, C.c_int]),
    ("cltrain_model_forward", _S, [_P, c_float_p, C.c_int, c_float_p]),
    ("cltrain_model_loss_grad", _S, [_P, c_float_p, c_int_p, C.c_int, c_float_p, c_float_p]),
    ("cltrain_model_get_param", _S, [_P, C.c_char_p, c_float_p, C.c_size_t, C.POINTER(C.c_size_t)]),
    ("cltrain_model_get_grad", _S, [_P, C.c_char_p, c_float_p, C.c_size_t, C.POINTER(C.c_size_t)]),
    ("cltrain_model_tensor_name", C.c_char_p, [_P, C.c_int]),
    ("cltrain_model_freeze", _S, [_P, C.c_char_p]),
    ("cltrain_head_defaults", HeadOptions, []),
    ("cltrain_model_replace_head", _S, [_P, C.POINTER(HeadOptions)]),
    ("cltrain_sgd_defaults", SgdOptions, []),
    ("cltrain_model_sgd_step", _S, [_P, C.POINTER(SgdOptions)]),
    ("cltrain_model_export_onnx", _S, [_P, C.c_char_p, C.POINTER(C.c_char_p), C.c_int]),
    ("cltrain_model_predict_files", _S, [_P, C.POINTER(C.c_char_p), C.c_int, c_float_p]),
    ("cltrain_model_predict_images", _S, [_P, C.POINTER(Image), C.c_int, c_float_p]),
    ("cltrain_softmax", _S, [c_float_p, C.c_int, C.c_int, c_float_p]),
    ("cltrain_train_defaults", TrainOptions, []),
    ("cltrain_train_run", _S, [_P, C.POINTER(TrainOptions), C.POINTER(TrainResult)]),
]:
    f = getattr(lib, name)
    f.restype, f.argtypes = res, args
