/* cltrain.h: the public C API of cltrain, an OpenCL transfer-learning trainer for OpenCV.
 * Conventions: opaque handles with create/destroy pairs (destroy accepts NULL); every call
 * returns a cltrain_status; cltrain_last_error() gives the detail of the latest failure.
 *
 * Stability (as zstd.h marks its API). Everything in this header is stable, with the same
 * meaning and ABI for every 0.x release of libcltrain.so.0, except what is marked EXPERIMENTAL:
 * those calls and option values may change or go in a later release. The options structs
 * (cltrain_train_options, cltrain_sgd_options, cltrain_head_options) can grow: each starts
 * with its size in bytes, which its *_defaults() function sets. Always start from
 * *_defaults() and assign fields by name. New fields are only ever added at the end, so a
 * newer library reads an older program's smaller struct (the missing fields take their
 * defaults); a size that this library does not know (a newer program's struct, or a struct
 * not made by *_defaults()) is refused with CLTRAIN_ERR_ARG, naming the struct. The result
 * struct cltrain_train_result carries its size the same way, set by cltrain_train_result_init():
 * a newer library fills only the fields an older program's smaller struct has.
 *
 * Threading. Use one context per thread: every call on a context, and on the models created
 * on it, must come from one thread at a time (they share the context's OpenCL queue, scratch
 * buffers and error text). Different contexts are independent and may be used from different
 * threads at the same time, even on the same device: a model trained in one thread gives
 * bit for bit the results it gives alone (test/train/test_threads.c). cltrain_devices(),
 * cltrain_status_str(), cltrain_version(), cltrain_softmax(), cltrain_onnx_class_names(),
 * cltrain_resnet_onnx() and cltrain_init_onnx() take no context and may be called from any thread;
 * cltrain_last_error(NULL) is per thread. A model must not be shared between threads without
 * the caller's own lock, and never with another context. cltrain_train_run() starts loader
 * threads of its own and joins them before it returns; its callbacks run on the calling
 * thread. */
#ifndef OPENCV_CLTRAIN_H
#define OPENCV_CLTRAIN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
  CLTRAIN_ERR_INTERNAL,      /* a bug in cltrain: please report it */
  CLTRAIN_ERR_TIMEOUT        /* another MPI rank did not reach a collective in time (stopped or
                              * hung): the communicator is unusable, end the job (MPI_Abort) */
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

/* Settings of one context, read by every later call on it and on its models. The cltrain tool
 * sets them from environment variables of the same name (CLTRAIN_CONV_WINOGRAD,
 * CLTRAIN_PROFILE); the library itself never reads those two (CLTRAIN_KERNEL_SHAPE, a device
 * default like CLTRAIN_GEMM, it does: see below). */
typedef enum cltrain_context_option {
  /* Winograd F(2x2,3x3) for 3x3 stride-1 convolutions: 0 (the default) the device's default,
   * which is inputs with >= 128 channels where Winograd's scratch fits the im2col chunk's
   * (ResNet's layer2 and layer3) on the native (OpenBLAS) GEMM backend and off on CLBlast; -1 off; 1 where the input has >= 256 channels; 2 on every such convolution.
   * Deterministic, but up to 1.75x further from float64 than the im2col path. */
  CLTRAIN_OPT_CONV_WINOGRAD = 1,
  /* 1: time every graph node between clFinish calls, per op type and pass, totalled in the
   * context (`cltrain bench` prints them); slower than a normal run. 0 (the default): off. */
  CLTRAIN_OPT_PROFILE = 2,
  /* How batch norm, max pooling, im2col and col2im split their work (cltrain_kernel_shape).
   * AUTO, the default, picks by device type: GPU shapes on GPUs and accelerators, CPU shapes
   * elsewhere; $CLTRAIN_KERNEL_SHAPE (auto, cpu or gpu), read when a context opens, replaces
   * that default, so tests can run the GPU shapes on a CPU device. Reading the option gives
   * the shapes in use (CPU or GPU, never AUTO). The shapes give results equal within rounding
   * (BN adds its sums in another order), each bitwise repeatable on one device. */
  CLTRAIN_OPT_KERNEL_SHAPE = 3
} cltrain_context_option;

/* Values of CLTRAIN_OPT_KERNEL_SHAPE. CPU: each work-item owns a long contiguous run (a row, a
 * 1024-float piece of a plane), which a CPU device vectorises. GPU: a work-item per element,
 * neighbouring work-items on neighbouring addresses, reductions as work-group trees. */
typedef enum cltrain_kernel_shape {
  CLTRAIN_KERNEL_SHAPE_AUTO = 0,
  CLTRAIN_KERNEL_SHAPE_CPU = 1,
  CLTRAIN_KERNEL_SHAPE_GPU = 2
} cltrain_kernel_shape;

/* Sets / reads one option. An unknown option or a value out of its range is CLTRAIN_ERR_ARG. */
CLTRAIN_API cltrain_status cltrain_context_set_option(cltrain_context *cx, cltrain_context_option opt,
                                                      int value);
CLTRAIN_API cltrain_status cltrain_context_get_option(const cltrain_context *cx,
                                                      cltrain_context_option opt, int *value);

/* Waits until every command queued on the context has finished. */
CLTRAIN_API cltrain_status cltrain_context_finish(cltrain_context *cx);

/* The detail of the latest failure on `cx`: the file, node, device, OpenCL call or build log.
 * With cx NULL: the latest failure of this thread, whatever context it came from.
 * Never NULL; "" when nothing has failed. Valid until the next call on the same context. */
CLTRAIN_API const char *cltrain_last_error(const cltrain_context *cx);

/* A debug aid for leak tests: how many OpenCL objects (contexts, command queues, programs,
 * kernels, buffers) cltrain created or retained and has not released yet, over every context
 * of this process. 0 once every model and context is destroyed. Objects that CLBlast creates
 * internally are not counted (cltrain_context_destroy() clears CLBlast's cache). */
CLTRAIN_API long cltrain_debug_live_objects(void);


/* ---- models ----------------------------------------------------------------------------- */

typedef struct cltrain_model cltrain_model;

typedef struct cltrain_model_info {
  int num_nodes;          /* graph nodes, input included */
  int num_param_layers;   /* conv, bn and linear layers */
  int num_stages;         /* stages between stem and head (ResNet-18: 4; README, "Stages per family") */
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

/* Changes the input image size (default 224 x 224) for all later calls; every node's shape
 * follows (convolutions and pools work on any size that keeps every output non-empty; the
 * global pool makes the head size-independent). CLTRAIN_ERR_ARG for a size below 1, or naming
 * the node that would come out empty. */
CLTRAIN_API cltrain_status cltrain_model_set_input_size(cltrain_model *m, int height, int width);

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
  size_t size;       /* sizeof(cltrain_head_options), set by cltrain_head_defaults() */
  int num_classes;   /* >= 1 */
  const int *hidden; /* sizes of hidden Linear->ReLU->Dropout blocks before the classifier */
  int num_hidden;
  float dropout;     /* in [0, 1) */
  uint64_t seed;     /* the same seed always gives the same head */
} cltrain_head_options;

/* num_classes 2, no hidden layers, dropout 0, seed 0. */
CLTRAIN_API cltrain_head_options cltrain_head_defaults(void);

/* Replaces the final classifier by Linear(in_features, num_classes) (after the hidden blocks),
 * initialised as torch.nn.Linear's default (weight and bias uniform in +-1/sqrt(fan_in), i.e.
 * kaiming-uniform with a=sqrt(5)), with values from cltrain's seeded RNG. The new layers are
 * named "fc" (the classifier) and "fc_hidden.K" (K = 0, 1, ...). */
CLTRAIN_API cltrain_status cltrain_model_replace_head(cltrain_model *m, const cltrain_head_options *o);

typedef struct cltrain_sgd_options {
  size_t size;             /* sizeof(cltrain_sgd_options), set by cltrain_sgd_defaults() */
  double lr;               /* the learning rate of the next step: 0.001 in the tutorial */
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
 * step a tensor trains), with learning rate o->lr (a schedule sets it before each step, as
 * torch's schedulers set the optimizer's lr, e.g. o.lr = cltrain_steplr_lr(base, 7, 0.1, epoch)).
 * A negative or non-finite learning rate, momentum or weight decay is CLTRAIN_ERR_ARG. */
CLTRAIN_API cltrain_status cltrain_model_sgd_step(cltrain_model *m, const cltrain_sgd_options *o);

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


/* ---- evaluation: predictions from image files, class names ------------------------------- */

/* Logits (n, classes) for the image files paths[0..n-1], through the evaluation transform of
 * the tutorial (decode with OpenCV to BGR, Resize(256) on the shorter side, CenterCrop(224),
 * RGB, /255, ImageNet mean/std; for an input other than 224x224 the resize scales along,
 * crop * 256 / 224 rounded down; the training loop validates through the same transform), in
 * the model's current mode (eval unless cltrain_model_set_train(m, 1)).
 * Images are run in batches of at most 16, so n may be large. Errors name the file:
 * CLTRAIN_ERR_IO (cannot read it), CLTRAIN_ERR_FORMAT (corrupt, truncated JPEG, not an image);
 * on failure `logits` holds nothing useful. */
CLTRAIN_API cltrain_status cltrain_model_predict_files(cltrain_model *m, const char *const *paths,
                                                       int n, float *logits);

/* An 8-bit BGR image in memory, as OpenCV holds it (cv::Mat CV_8UC3, or a numpy array from
 * cv2.imread): height x width pixels of 3 bytes, rows `stride` bytes apart. */
typedef struct cltrain_image {
  const unsigned char *data;
  int height, width;
  size_t stride;
} cltrain_image;

/* cltrain_model_predict_files() for images already in memory: the same evaluation transform,
 * so an image gives bitwise the logits of a file that decodes to it. An image without pixels,
 * with a size below 1 or a stride below 3 * width is CLTRAIN_ERR_ARG naming it ("images[2]"). */
CLTRAIN_API cltrain_status cltrain_model_predict_images(cltrain_model *m, const cltrain_image *images,
                                                        int n, float *logits);

/* Row-wise softmax of logits (n, k) into probs (n, k) (may be the same buffer), computed in
 * double with the row maximum subtracted, as torch.softmax. */
CLTRAIN_API cltrain_status cltrain_softmax(const float *logits, int n, int k, float *probs);

/* The class names that cltrain_model_export_onnx() stored in the ONNX file's metadata_props
 * "cltrain.classes". buf (cap bytes) receives them one after another, each NUL-terminated
 * ("ants\0bees\0"); *count (may be NULL) gets how many; *size (may be NULL) gets the bytes
 * needed. buf may be NULL (cap 0) to ask only for the size. A file without the entry is not an
 * error: *count = 0, *size = 0. Errors (in cltrain_last_error(NULL)) name the file:
 * CLTRAIN_ERR_IO (cannot open), CLTRAIN_ERR_FORMAT (not an ONNX model), CLTRAIN_ERR_ARG (NULL
 * path, or cap too small for *size bytes: buf is left untouched). */
CLTRAIN_API cltrain_status cltrain_onnx_class_names(const char *onnx_path, char *buf, size_t cap,
                                                    size_t *size, int *count);

/* ---- a whole training run: the tutorial's train_model ------------------------------------ */

/* Where a training run is, passed to cltrain_train_options.on_progress after every batch. */
typedef struct cltrain_progress {
  int epoch, epochs;        /* 0-based epoch of this run, and the run's total */
  int phase;                /* 0 train, 1 val */
  int batch, num_batches;   /* batches done in this phase, and its total */
  int images;               /* images done in this phase */
  double loss, acc;         /* the phase's mean loss and accuracy so far */
  double lr;                /* this epoch's learning rate */
  double seconds;           /* since the phase began */
  double images_per_s;      /* images / seconds */
} cltrain_progress;

/* One finished epoch, passed to cltrain_train_options.on_epoch. */
typedef struct cltrain_epoch_stats {
  int epoch, epochs;            /* 0-based */
  double train_loss, train_acc; /* NaN for a phase that did not run */
  double val_loss, val_acc;
  double lr;
  double train_seconds, val_seconds;
  double train_images_per_s, val_images_per_s;
  double data_wait;             /* fraction of the train phase spent waiting for the loader */
  long long steps;              /* optimizer steps so far, the whole run (resumes included) */
  int is_best;                  /* this epoch's val accuracy is the best so far */
} cltrain_epoch_stats;

/* Feature caching for head-only training (cltrain_train_options.cache_features). It applies
 * when the training images are not augmented, frozen BN layers run in eval mode and the frozen
 * part ends in one tensor that only trainable layers read (for ResNet-18: `freeze all`, or
 * freezing whole stages from the stem up): that tensor is then the same every epoch, so the
 * first epoch keeps it per image (on the device when it fits in a quarter of its memory, else
 * in host memory) and later epochs run only the layers above it, with no image decoding.
 * AUTO caches when it applies; ON fails with CLTRAIN_ERR_ARG saying why when it does not;
 * OFF never caches. */
typedef enum cltrain_feature_cache {
  CLTRAIN_CACHE_AUTO = 0,
  CLTRAIN_CACHE_ON = 1,
  CLTRAIN_CACHE_OFF = 2
} cltrain_feature_cache;

typedef struct cltrain_train_options {
  size_t size;             /* sizeof(cltrain_train_options), set by cltrain_train_defaults() */
  const char *model_path;  /* the ONNX model to fine-tune */
  const char *data_dir;    /* an ImageFolder pair: data_dir/train and data_dir/val */
  const char *out_path;    /* the exported ONNX model (written atomically at the end) */
  int num_classes;         /* outputs of the new head; -1: the number of class folders */
  const char *freeze;      /* a cltrain_model_freeze spec: "none" */
  cltrain_frozen_bn frozen_bn;
  const int *head_hidden;  /* hidden layer sizes of the new head (cltrain_head_options) */
  int num_hidden;
  float dropout;
  int epochs;              /* 25 */
  long long max_steps;     /* stop after this many optimizer steps; -1: no limit; 0: export the
                            * initial model (new head) without training */
  int batch_size;          /* 4 */
  cltrain_sgd_options sgd; /* cltrain_sgd_defaults() */
  int step_size;           /* StepLR: 7 */
  double gamma;            /* StepLR: 0.1 */
  int augment;             /* 1: RandomResizedCrop(224) + flip for training; 0: the eval transform */
  int shuffle;             /* 1: a new order every epoch */
  uint64_t seed;           /* head init, shuffling, augmentation, dropout */
  int keep_best;           /* 1: export the weights of the best val epoch; 0: the last */
  int workers;             /* loader threads; 0: hardware threads - 1 */
  int skip_bad;            /* 1: leave out images that fail to load instead of failing */
  int image_size;          /* side of the (square) training crop; 0: the model's (224). Smaller
                            * images train faster; resize keeps the tutorial's 256/224 ratio */
  const char *log_csv;     /* NULL, or epoch,phase,loss,acc,lr,seconds,images_per_s per phase */
  const char *plot_png;    /* NULL, or loss and accuracy curves */
  const char *checkpoint;  /* NULL, or a checkpoint rewritten after every epoch */
  const char *resume;      /* NULL, or a checkpoint to continue from */
  cltrain_feature_cache cache_features; /* CLTRAIN_CACHE_AUTO */
  void (*on_progress)(const cltrain_progress *p, void *user); /* may be NULL */
  void (*on_epoch)(const cltrain_epoch_stats *e, void *user); /* may be NULL */
  void *user;
  /* Data-parallel training (see "several devices" below): NULL trains alone; a pointer to an
   * MPI_Comm (`&comm`), or CLTRAIN_MPI_COMM_WORLD, trains as one rank of that communicator. */
  const void *mpi_comm;
  /* With mpi_comm: the longest any collective waits for the other ranks (300 s). It must
   * exceed the longest time one rank works alone, e.g. rank 0 writing a checkpoint while the
   * others wait. Past it, the call fails with CLTRAIN_ERR_TIMEOUT (see below). */
  double mpi_timeout;
} cltrain_train_options;

/* What cltrain_train_run reports. It starts with its size, as the options structs do: start it
 * from cltrain_train_result_init(), an inline function, so `size` is the size of the struct the
 * program was built with. The library writes the first `size` bytes and nothing past them (an
 * older program's struct lacks the fields added since); a size that no version of the struct
 * has (0, not a multiple of its alignment, or larger than this library's) is refused with
 * CLTRAIN_ERR_ARG, naming cltrain_train_result.size, before anything runs. New fields are only
 * ever added at the end. */
typedef struct cltrain_train_result {
  size_t size;              /* sizeof(cltrain_train_result): set by cltrain_train_result_init() */
  int num_classes;
  int epochs_done;          /* completed epochs, resumed ones included */
  long long steps;          /* optimizer steps, resumed ones included */
  double best_val_acc;      /* 0 when no epoch ran */
  int best_epoch;           /* 1-based; 0: the initial weights */
  double last_val_acc;      /* NaN when no epoch ran */
  double seconds;           /* wall time of this call */
  double loader_wait_seconds; /* time the train phases waited for data, this call */
  double train_seconds;       /* time in train phases, this call */
  int skipped;              /* images left out (skip_bad) */
  int exported_best;        /* 1 when the exported weights are the best epoch's */
  int features_cached;      /* 0: no feature cache, 1: on the device, 2: in host memory */
  char cache_node[96];      /* the node whose output was cached, "" when none */
  double cache_mib;         /* the caches' size (train and val) */
  int ranks;                /* processes that trained together (1 without mpi_comm) */
  double allreduce_seconds; /* this rank's gradient reductions, start to end, summed */
  double allreduce_exposed_seconds; /* the part the host waited for once the backward was done */
  double floats_reduced_per_step;   /* gradient floats summed over the ranks per step */
} cltrain_train_result;

/* A zeroed result whose size is this header's sizeof(cltrain_train_result). */
static inline cltrain_train_result cltrain_train_result_init(void) {
  cltrain_train_result r;
  memset(&r, 0, sizeof r);
  r.size = sizeof r;
  return r;
}

/* The tutorial's settings: num_classes -1, freeze "none", frozen BN eval, 25 epochs, no step
 * limit, batch 4, SGD lr 0.001 momentum 0.9, StepLR(7, 0.1), augmentation, shuffling, seed 0,
 * keep best, workers 0, feature caching auto. Paths are NULL. */
CLTRAIN_API cltrain_train_options cltrain_train_defaults(void);

/* PyTorch's transfer-learning tutorial's train_model: loads the model, replaces its head,
 * freezes, then per epoch trains (train mode, shuffled augmented batches, SGD, StepLR) and
 * validates (eval mode, eval transform, sorted order), keeps the best val epoch, and exports
 * the chosen weights with the class names. Checks the data folders (same classes) and that
 * every output's folder is writable before any training. With `checkpoint`, every epoch ends
 * with an atomic checkpoint (weights, momentum, best weights, history, options); `resume`
 * continues one, refusing a different model (CLTRAIN_ERR_FORMAT), other options that change
 * the result (CLTRAIN_ERR_ARG), or a corrupt file (CLTRAIN_ERR_FORMAT). A resumed run ends
 * with the same weights, bit for bit, as an uninterrupted one.
 * Errors: the loader's (naming the image), CLTRAIN_ERR_NUMERIC for a NaN/inf loss; on any
 * error nothing is exported. out may be NULL; if not, start it from cltrain_train_result_init()
 * (on failure its fields are zero). */
CLTRAIN_API cltrain_status cltrain_train_run(cltrain_context *cx, const cltrain_train_options *o,
                                             cltrain_train_result *out);

/* ---- training on several devices: MPI ----------------------------------------------------
 * With cltrain_train_options.mpi_comm set, every rank of the communicator calls
 * cltrain_train_run with the same options (each on its own context/device) and they train one
 * model as PyTorch's DistributedDataParallel: rank 0's initial weights and new head everywhere;
 * each epoch the same shuffled order, rank r taking positions r, r+N, ... (DistributedSampler:
 * the order is padded with its first images to a multiple of N so every rank runs the same
 * steps); batch_size per rank (global batch N x batch_size); gradients averaged by MPI
 * allreduce before every SGD step, in buckets that overlap the backward pass; BN in train mode
 * uses each rank's batch statistics and rank 0's running statistics are broadcast before every
 * forward (DDP's broadcast_buffers); validation split over the ranks (no padding) and summed.
 * Augmentation is a function of (seed, epoch, image index), so a run is reproducible for a
 * given N. Only rank 0 writes the log, plot, checkpoints and export and calls on_progress and
 * on_epoch; resume reads rank 0's file and broadcasts it, and a checkpoint resumes only with
 * the rank count that wrote it. A failure on any rank (its image, memory, a NaN loss) fails
 * every rank's call with that rank's message, "rank R: ...", and nothing is exported.
 * skip_bad is refused with several ranks (the ranks' batches would no longer match).
 * No collective waits longer than mpi_timeout for the other ranks: a rank that stopped or hangs
 * makes the waiting ranks' calls fail with CLTRAIN_ERR_TIMEOUT, naming the collective, the step
 * and the ranks waited for. That collective stays pending (MPI cannot cancel one), so the
 * caller must then end the job with cltrain_mpi_abort(mpi_comm, 1) (MPI_Finalize would hang).
 * The caller's part, with its own communicator: initialise MPI before the call with
 * MPI_Init_thread at MPI_THREAD_FUNNELED or above and call cltrain from the thread that did
 * (cltrain's loader threads never call MPI); pass a communicator that every member passes
 * to its own call (cltrain duplicates it, so the caller's own traffic on it cannot mix with
 * cltrain's); free it and call MPI_Finalize only after cltrain_train_run has returned.
 * Several groups may train side by side, each with its MPI_Comm_split communicator. When
 * the caller has not initialised MPI, cltrain does (MPI_COMM_WORLD) and finalises it at exit.
 * Built without MPI, a non-NULL mpi_comm is CLTRAIN_ERR_UNSUPPORTED. */
#define CLTRAIN_MPI_COMM_WORLD ((const void *)1)

/* This process's rank and the size of `comm` (as mpi_comm above), and its rank among the ranks
 * on this host (OMPI_COMM_WORLD_LOCAL_RANK, else MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)):
 * the index of the device it should take. Initialises MPI as cltrain_train_run does. */
CLTRAIN_API cltrain_status cltrain_mpi_ranks(const void *comm, int *rank, int *size, int *local_rank);

/* Ends every rank of `comm` with exit status `code` (MPI_Abort): for a rank that fails before
 * it can reach cltrain_train_run (no device), so that the others do not wait for it. */
CLTRAIN_API void cltrain_mpi_abort(const void *comm, int code);

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

/* As cltrain_resnet_onnx(), for "resnet18", "resnet34" (which it passes on to
 * cltrain_resnet_onnx()), "mobilenet_v3_small" and "efficientnet_b0": torchvision 0.14's
 * architectures, exported as torch.onnx.export writes them (opset 13, BN kept; hardswish as
 * x * HardSigmoid(x), SiLU as x * Sigmoid(x)), with torchvision's initialisation: every conv
 * kaiming_normal_(fan_out) with zero bias, BN weight 1, bias 0; MobileNetV3's Linears
 * N(0, 0.01) and EfficientNet's U(+-1/sqrt(num_classes)), with zero biases. The same Philox
 * stream, checks and errors. */
CLTRAIN_API cltrain_status cltrain_init_onnx(const char *arch, int num_classes, uint64_t seed, const char *path);

/* ---- for tools: what the cltrain command-line tool needs (EXPERIMENTAL) --------------------
 * The cltrain tool (apps/cltrain) is built on this header alone, as sqlite's shell is on
 * sqlite3.h. These calls serve its devices, info, eval and predict commands; they are
 * EXPERIMENTAL: their structs and meaning may change in a later 0.x release. */

/* What a context's launches depend on (`cltrain devices --verbose`). The caller sets `size` to
 * sizeof(cltrain_context_details); another size is CLTRAIN_ERR_ARG. */
typedef struct cltrain_context_details {
  size_t size;
  const char *gemm_backend;  /* static text: the GEMM path chosen when the context opened */
  const char *gemm_tuning;   /* the GEMM tuning entry applied to this device; NULL: CLBlast's defaults */
  size_t max_work_group;     /* work-items per group that launches use (CLTRAIN_DEVICE_LIMITS lowers it) */
  size_t max_work_items[3];  /* CL_DEVICE_MAX_WORK_ITEM_SIZES */
  size_t local_mem_bytes;    /* local memory per group that kernels use */
  size_t max_alloc_bytes;    /* the largest buffer */
  size_t reduce_width;       /* work-items per group of the reduction kernels */
  int fp64, fp16, subgroups; /* cl_khr_fp64, cl_khr_fp16, cl_khr/intel_subgroups */
  int native_kernels;        /* CL_EXEC_NATIVE_KERNEL */
} cltrain_context_details;
CLTRAIN_API cltrain_status cltrain_context_get_details(const cltrain_context *cx,
                                                       cltrain_context_details *out);

/* One node of a model as cltrain imports it (`cltrain info`). */
typedef struct cltrain_node_info {
  char name[96];        /* the torchvision module path where the export has one: "layer1.0.conv1" */
  const char *op;       /* static text: "input", "conv", "bn", "relu", "linear", ... */
  int c, h, w;          /* output shape per image, for the input size imported */
  int stage;            /* -1 the input, 0 the stem, 1..S the stages, S + 1 the head */
  int is_output;        /* the classifier whose outputs are the logits */
  int out_features;     /* linear nodes: outputs */
  size_t trainable;     /* learnable parameters (BN: gamma and beta) */
  size_t stored;        /* parameters stored in the file (BN: with its running statistics) */
} cltrain_node_info;

/* Imports the ONNX model at `path` (as cltrain_model_load_onnx() does, without a device when
 * cx is NULL) and writes up to `cap` of its nodes, in topological order, to `out` (NULL with
 * cap 0 to count them), shaped for the input size the file declares (224 x 224 if none);
 * *count gets the number of nodes. Errors name the file or node and are
 * detailed by cltrain_last_error(cx). */
CLTRAIN_API cltrain_status cltrain_onnx_nodes(cltrain_context *cx, const char *path,
                                              cltrain_node_info *out, int cap, int *count);

/* An ImageFolder: DIR/CLASS/IMAGE, classes sorted by name, images sorted within each class,
 * as torchvision's datasets.ImageFolder orders them. An empty or unreadable folder, or a
 * class without images, is an error naming it. */
typedef struct cltrain_folder cltrain_folder;
CLTRAIN_API cltrain_status cltrain_folder_open(cltrain_context *cx, const char *dir,
                                               cltrain_folder **out);
CLTRAIN_API void cltrain_folder_close(cltrain_folder *f); /* accepts NULL */
CLTRAIN_API int cltrain_folder_size(const cltrain_folder *f);        /* images; 0 for NULL */
CLTRAIN_API int cltrain_folder_num_classes(const cltrain_folder *f); /* 0 for NULL */
/* NULL when out of range */
CLTRAIN_API const char *cltrain_folder_class_name(const cltrain_folder *f, int c);
/* image i's path relative to DIR; NULL when out of range */
CLTRAIN_API const char *cltrain_folder_path(const cltrain_folder *f, int i);
/* image i's class; -1 when out of range */
CLTRAIN_API int cltrain_folder_label(const cltrain_folder *f, int i);

/* A folder's images in its order, through the evaluation transform that
 * cltrain_model_predict_files() applies for m's input size, decoded by `workers` threads
 * (0: hardware threads - 1) ahead of the caller, `batch` images at a time. cx is m's context;
 * f must outlive the reader. */
typedef struct cltrain_folder_reader cltrain_folder_reader;
CLTRAIN_API cltrain_status cltrain_folder_reader_create(cltrain_context *cx, const cltrain_folder *f,
                                                        const cltrain_model *m, int batch,
                                                        int workers, cltrain_folder_reader **out);
CLTRAIN_API void cltrain_folder_reader_destroy(cltrain_folder_reader *r); /* accepts NULL */
/* The next batch: *images (n, in_c, in_h, in_w) and *labels (n), valid until the next call;
 * *n is 0 after the last batch. An image that fails to decode is an error naming it. */
CLTRAIN_API cltrain_status cltrain_folder_reader_next(cltrain_folder_reader *r, const float **images,
                                                      const int **labels, int *n);
/* Seconds cltrain_folder_reader_next() has waited for decoding, since create. */
CLTRAIN_API double cltrain_folder_reader_wait_seconds(const cltrain_folder_reader *r);

/* What CLTRAIN_OPT_PROFILE measured on cx since it opened or since the last reset, per op kind
 * that ran: seconds and calls of its forward ([0]) and backward ([1]) passes, each node timed
 * between clFinish calls (`cltrain bench` with CLTRAIN_PROFILE=1). Writes up to `cap` entries
 * (NULL with cap 0 to count them); *count gets the number of op kinds that ran. */
typedef struct cltrain_profile_entry {
  const char *op; /* static text, as in cltrain_node_info.op */
  double seconds[2];
  long calls[2];
} cltrain_profile_entry;
CLTRAIN_API cltrain_status cltrain_context_get_profile(const cltrain_context *cx, cltrain_profile_entry *out,
                                                       int cap, int *count);
CLTRAIN_API cltrain_status cltrain_context_reset_profile(cltrain_context *cx);

/* A debug aid for benchmarks: OpenCL kernels that cltrain has launched in this process, over
 * every context (CLBlast's own launches are not counted). */
CLTRAIN_API unsigned long cltrain_debug_launch_count(void);

/* Writes `bytes` bytes to `path` as cltrain writes every file: into a temporary file beside it,
 * fsynced, renamed over `path`, and the folder fsynced, so that a crash leaves the old file or
 * the new one, never a part. CLTRAIN_ERR_IO names the file and the reason (cltrain_last_error(NULL)). */
CLTRAIN_API cltrain_status cltrain_write_file(const char *path, const void *data, size_t bytes);

#ifdef __cplusplus
}
#endif
#endif /* OPENCV_CLTRAIN_H */
