/* cltrain.h: the public C API of cltrain, an OpenCL transfer-learning trainer for OpenCV.
 * Conventions: opaque handles with create/destroy pairs (destroy accepts NULL); every call
 * returns a cltrain_status; cltrain_last_error() gives the detail of the latest failure. */
#ifndef OPENCV_CLTRAIN_H
#define OPENCV_CLTRAIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLTRAIN_VERSION_MAJOR 0
#define CLTRAIN_VERSION_MINOR 1
#define CLTRAIN_VERSION_PATCH 0
#define CLTRAIN_VERSION_NUMBER \
  (CLTRAIN_VERSION_MAJOR * 10000 + CLTRAIN_VERSION_MINOR * 100 + CLTRAIN_VERSION_PATCH)
#define CLTRAIN_VERSION_STRING "0.1.0"

#if defined(_WIN32) && defined(CLTRAIN_SHARED)
#define CLTRAIN_API __declspec(dllexport)
#elif defined(__GNUC__)
#define CLTRAIN_API __attribute__((visibility("default")))
#else
#define CLTRAIN_API
#endif

typedef enum cltrain_status {
  CLTRAIN_OK = 0,
  CLTRAIN_ERR_ARG,           /* a NULL or out-of-range argument */
  CLTRAIN_ERR_DEVICE,        /* no OpenCL platform, or no device matches the selector */
  CLTRAIN_ERR_OPENCL,        /* an OpenCL call failed; the message names the call and the error */
  CLTRAIN_ERR_BUILD,         /* an OpenCL program failed to build; the message holds the log */
  CLTRAIN_ERR_CLBLAST,       /* a CLBlast call failed; the message holds CLBlast's code */
  CLTRAIN_ERR_OUT_OF_MEMORY, /* host or device memory ran out */
  CLTRAIN_ERR_IO,            /* a file could not be read or written */
  CLTRAIN_ERR_FORMAT,        /* a file is corrupt or is not what it claims to be */
  CLTRAIN_ERR_UNSUPPORTED,   /* a model node, option or device feature cltrain does not support */
  CLTRAIN_ERR_OPENCV,        /* OpenCV raised an exception */
  CLTRAIN_ERR_NUMERIC,       /* a NaN or infinite loss */
  CLTRAIN_ERR_INTERNAL       /* a bug in cltrain: please report it */
} cltrain_status;

/* Static text for a status, e.g. "CLTRAIN_ERR_DEVICE: no matching OpenCL device". */
CLTRAIN_API const char *cltrain_status_str(cltrain_status s);

/* "0.1.0"; and CLTRAIN_VERSION_NUMBER of the library actually linked. */
CLTRAIN_API const char *cltrain_version(void);
CLTRAIN_API int cltrain_version_number(void);

/* ---- devices and contexts -------------------------------------------------------------- */

typedef enum cltrain_device_type {
  CLTRAIN_DEVICE_CPU = 1,
  CLTRAIN_DEVICE_GPU = 2,
  CLTRAIN_DEVICE_ACCELERATOR = 4,
  CLTRAIN_DEVICE_OTHER = 8
} cltrain_device_type;

typedef struct cltrain_device_info {
  int platform_index, device_index; /* the "P:D" selector of this device */
  cltrain_device_type type;
  int is_default; /* the device an empty selector picks */
  unsigned compute_units;
  uint64_t global_mem_bytes;
  uint64_t max_alloc_bytes;
  char platform[128];
  char name[128];
  char vendor[128];
  char version[64];   /* CL_DEVICE_VERSION */
  char c_version[64]; /* CL_DEVICE_OPENCL_C_VERSION */
} cltrain_device_info;

/* Lists every device of every platform. Writes at most `cap` entries and sets *count to the
 * total, so a call with cap 0 asks for the count. No platform at all is CLTRAIN_ERR_DEVICE. */
CLTRAIN_API cltrain_status cltrain_devices(cltrain_device_info *out, int cap, int *count);

typedef struct cltrain_context cltrain_context;

/* Opens a device and one in-order queue on it. `selector` is "P:D" (indices), "gpu", "cpu",
 * "accelerator", or a case-insensitive substring of the device or platform name. NULL or ""
 * takes $CLTRAIN_DEVICE, and if that is unset the first GPU, else the first CPU.
 * On failure *out is NULL and cltrain_last_error(NULL) says why (it lists the devices). */
CLTRAIN_API cltrain_status cltrain_context_create(const char *selector, cltrain_context **out);

/* Adopts an existing OpenCL context and in-order queue (for example OpenCV's, see
 * cv::cltrain::Context::fromOpenCV()), so that cl_mem buffers can be shared without copies.
 * Both handles are retained and released again by cltrain_context_destroy(). */
CLTRAIN_API cltrain_status cltrain_context_create_from_cl(void *cl_context, void *cl_command_queue,
                                                          cltrain_context **out);

CLTRAIN_API void cltrain_context_destroy(cltrain_context *cx);

/* The device the context runs on. */
CLTRAIN_API cltrain_status cltrain_context_device(const cltrain_context *cx, cltrain_device_info *out);

/* Waits until every command queued on the context has finished. */
CLTRAIN_API cltrain_status cltrain_context_finish(cltrain_context *cx);

/* The detail of the latest failure on `cx`: the file, node, device, OpenCL call or build log.
 * With cx NULL: the latest failure of this thread, whatever context it came from.
 * Never NULL; "" when nothing has failed. Valid until the next call on the same context. */
CLTRAIN_API const char *cltrain_last_error(const cltrain_context *cx);


/* ---- models ----------------------------------------------------------------------------- */

typedef struct cltrain_model cltrain_model;

typedef struct cltrain_model_info {
  int num_nodes;          /* graph nodes, input included */
  int num_param_layers;   /* conv, bn and linear layers */
  int num_stages;         /* residual stages (ResNet-18: 4) */
  int num_classes;        /* outputs of the classifier */
  int in_c, in_h, in_w;   /* input image shape (3, 224, 224) */
  size_t num_params;      /* learnable parameters, as torchvision counts them */
  size_t device_bytes;    /* device memory the model holds now (weights, buffers for the last batch) */
} cltrain_model_info;

/* Reads an ONNX model through OpenCV's cv::dnn importer into a trainable graph on cx's device.
 * Errors name the file, or the node and its type (CLTRAIN_ERR_UNSUPPORTED). */
CLTRAIN_API cltrain_status cltrain_model_load_onnx(cltrain_context *cx, const char *path,
                                                   cltrain_model **out);
CLTRAIN_API void cltrain_model_destroy(cltrain_model *m);
CLTRAIN_API cltrain_status cltrain_model_get_info(const cltrain_model *m, cltrain_model_info *out);

/* Train mode (1) normalises BN layers with batch statistics and updates their running
 * statistics, as PyTorch's model.train(); eval mode (0, the default) uses the running ones. */
CLTRAIN_API cltrain_status cltrain_model_set_train(cltrain_model *m, int train);

/* logits (n, classes) for images (n, in_c, in_h, in_w): float, RGB, normalised. */
CLTRAIN_API cltrain_status cltrain_model_forward(cltrain_model *m, const float *images, int n,
                                                 float *logits);

/* One forward and backward pass: sets every parameter gradient to d(mean cross-entropy)/d(param)
 * for images (n, in_c, in_h, in_w) and labels (n) in [0, classes). *loss gets the loss; logits
 * (n, classes) may be NULL. In train mode BN running statistics move, as in PyTorch. */
CLTRAIN_API cltrain_status cltrain_model_loss_grad(cltrain_model *m, const float *images,
                                                   const int *labels, int n, float *loss,
                                                   float *logits);

/* Reads a tensor by its PyTorch state_dict name ("layer1.0.conv1.weight", "bn1.running_var",
 * "fc.bias"): cltrain_model_get_param its value, cltrain_model_get_grad its gradient (zero for a
 * tensor that has none). *count (may be NULL) gets the element count; out may be NULL to ask
 * only for that, else it must hold cap >= count floats. An unknown name is CLTRAIN_ERR_ARG. */
CLTRAIN_API cltrain_status cltrain_model_get_param(cltrain_model *m, const char *name, float *out,
                                                   size_t cap, size_t *count);
CLTRAIN_API cltrain_status cltrain_model_get_grad(cltrain_model *m, const char *name, float *out,
                                                  size_t cap, size_t *count);

/* The i-th parameter tensor's state_dict name (0 <= i < tensor count), or NULL past the end. */
CLTRAIN_API const char *cltrain_model_tensor_name(const cltrain_model *m, int i);

/* ---- transfer learning: freezing, a new head, SGD, StepLR, export --------------------------- */

/* Chooses what trains. spec is
 *   "none"          every layer trains;
 *   "all"           only the head (the final classifier, and any hidden layers of a new head);
 *   "upto:NAME"     every parameter layer before the first one whose name starts with NAME
 *                   ("upto:layer3" freezes conv1, bn1, layer1 and layer2);
 *   "A,B,..."       layers whose names start with any of these prefixes (at a dot boundary), or
 *                   that belong to the aliases stem, stage1..stageN, head.
 * Replaces the previous choice, so it can change between epochs (gradual unfreezing). A spec
 * that selects no layer is CLTRAIN_ERR_ARG and changes nothing. */
CLTRAIN_API cltrain_status cltrain_model_freeze(cltrain_model *m, const char *spec);

/* Whether the parameter layer `name` (e.g. "layer1.0.conv1") is frozen. */
CLTRAIN_API cltrain_status cltrain_model_is_frozen(const cltrain_model *m, const char *name,
                                                   int *frozen);

/* How BatchNorm layers inside the frozen part behave in train mode:
 * CLTRAIN_FROZEN_BN_EVAL (default): running statistics, never updated (Keras's semantics);
 * CLTRAIN_FROZEN_BN_TRAIN: batch statistics and running-statistics updates (PyTorch's). */
typedef enum cltrain_frozen_bn { CLTRAIN_FROZEN_BN_EVAL = 0, CLTRAIN_FROZEN_BN_TRAIN = 1 } cltrain_frozen_bn;
CLTRAIN_API cltrain_status cltrain_model_set_frozen_bn(cltrain_model *m, cltrain_frozen_bn mode);

typedef struct cltrain_head_options {
  int num_classes;   /* >= 1 */
  const int *hidden; /* sizes of hidden Linear->ReLU->Dropout blocks before the classifier */
  int num_hidden;
  float dropout;     /* in [0, 1) */
  uint64_t seed;     /* the same seed always gives the same head */
} cltrain_head_options;

/* Replaces the final classifier by Linear(in_features, num_classes) (after the hidden blocks),
 * initialised as torch.nn.Linear's default (weight and bias uniform in +-1/sqrt(fan_in), i.e.
 * kaiming-uniform with a=sqrt(5)), with values from cltrain's seeded RNG. The new layers are
 * named "fc" (the classifier) and "fc_hidden.K" (K = 0, 1, ...). */
CLTRAIN_API cltrain_status cltrain_model_replace_head(cltrain_model *m, const cltrain_head_options *o);

typedef struct cltrain_sgd_options {
  double lr;               /* 0.001 in the tutorial */
  double momentum;         /* 0.9 */
  double dampening;        /* 0 */
  double weight_decay;     /* 0 */
  int nesterov;            /* 0 */
  double backbone_lr_mult; /* lr multiplier of every layer outside the head: 1 */
} cltrain_sgd_options;

/* The tutorial's settings: lr 0.001, momentum 0.9, the rest off, backbone at 1x. */
CLTRAIN_API cltrain_sgd_options cltrain_sgd_defaults(void);

/* One SGD step on every trainable tensor from the gradients of the last
 * cltrain_model_loss_grad(), exactly as torch.optim.SGD (momentum buffers start at the first
 * step a tensor trains). lr is the current learning rate (see cltrain_steplr_lr). */
CLTRAIN_API cltrain_status cltrain_model_sgd_step(cltrain_model *m, const cltrain_sgd_options *o,
                                                  double lr);

/* torch.optim.lr_scheduler.StepLR: the learning rate of epoch `epoch` (0-based), decayed by
 * gamma every step_size epochs, computed as PyTorch does (repeated multiplication). */
CLTRAIN_API double cltrain_steplr_lr(double base_lr, int step_size, double gamma, int epoch);

/* Writes the model as an inference ONNX graph that cv::dnn loads: the source file's graph with
 * the current weights and BN running statistics (BN nodes stay where the source had them, node
 * and initializer names are kept), a replaced head as new Gemm/Relu nodes, and class_names
 * (may be NULL) in metadata_props "cltrain.classes" (one per line). Every export is verified:
 * cv::dnn's logits on a probe batch must equal cltrain's eval-mode logits to 1e-5 relative L2.
 * The file is written under a temporary name and renamed, so a failure leaves no file behind
 * and an existing file at `path` untouched. */
CLTRAIN_API cltrain_status cltrain_model_export_onnx(cltrain_model *m, const char *path,
                                                     const char *const *class_names, int num_names);

/* ---- models from scratch ------------------------------------------------------------------ */

/* Writes a freshly initialised torchvision ResNet ("resnet18" or "resnet34") with a
 * num_classes-way fc to `path` as ONNX (opset 13, BatchNormalization nodes kept, torch's node
 * names such as "/layer1/layer1.0/conv1/Conv" and state_dict initializer names, input
 * (1,3,224,224) "input", output "logits"), initialised as torchvision does: convs
 * kaiming_normal_(fan_out, relu), i.e. N(0, 2/(out_channels*kh*kw)); BN weight 1, bias 0,
 * running mean 0, var 1; fc weight and bias U(+-1/sqrt(512)). The numbers come from cltrain's
 * Philox RNG (stream 16 of `seed`; normals by Box-Muller from 53-bit uniforms), so a seed always
 * gives the same file, but not the numbers torch.manual_seed(seed) would give. The file is
 * checked by onnx::checker and read back by cv::dnn before it is renamed into place. Errors
 * (unknown arch, num_classes < 1: CLTRAIN_ERR_ARG; unwritable path: CLTRAIN_ERR_IO) are
 * detailed by cltrain_last_error(NULL). */
CLTRAIN_API cltrain_status cltrain_resnet_onnx(const char *arch, int num_classes, uint64_t seed,
                                               const char *path);

#ifdef __cplusplus
}
#endif
#endif /* OPENCV_CLTRAIN_H */
