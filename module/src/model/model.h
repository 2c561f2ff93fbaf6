/* model.h: a graph_desc made runnable: its parameters, gradients and activations on the device,
 * and forward/backward passes that string the ops together. The public cltrain_model. */
#ifndef CLTRAIN_MODEL_H
#define CLTRAIN_MODEL_H

#include "graph/graph.h"
#include "ops/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One named tensor of the parameter block, as in PyTorch's state_dict. */
typedef struct model_tensor {
  char name[128]; /* "layer1.0.conv1.weight", "bn1.running_mean" */
  int node;
  size_t off, count; /* within the parameter block */
  int learnable;     /* 0 for BN running statistics */
} model_tensor;

/* ---- reading a model from outside model/ ----
 * struct cltrain_model is model/'s own (model_impl.h, which only model/'s C files include; the
 * private_includes test enforces it): the training loop, checkpoints, the feature cache,
 * data-parallel training, the exporter and predict read a model through these. */
cltrain_context *model_context(const cltrain_model *m);
const graph_desc *model_graph(const cltrain_model *m);
int model_tensor_count(const cltrain_model *m);
const model_tensor *model_tensor_at(const cltrain_model *m, int t); /* 0 <= t < count */
/* The device blocks of g.nparams floats each, laid out as the parameters. */
buf model_params(const cltrain_model *m);
buf model_grads(const cltrain_model *m);
buf model_momentum(const cltrain_model *m);
/* Per tensor: whether its momentum buffer holds a value (torch creates it lazily); the flags of
 * a saved optimizer state are written back with model_set_momentum_flags. */
const unsigned char *model_momentum_flags(const cltrain_model *m);
void model_set_momentum_flags(cltrain_model *m, const unsigned char *flags);
/* Dropout's stream: seeded once per run, counted per training step (checkpoints keep it). */
void model_set_dropout_seed(cltrain_model *m, uint64_t seed);
uint64_t model_dropout_step(const cltrain_model *m);
void model_set_dropout_step(cltrain_model *m, uint64_t step);
int model_is_frozen(const cltrain_model *m, int node); /* a frozen parameter layer */
int model_is_fused(const cltrain_model *m, int node);  /* runs fused with its BN (planned) */
int model_training(const cltrain_model *m);             /* cltrain_model_set_train's mode */
size_t model_activation_bytes(const cltrain_model *m);  /* batch buffers at the current capacity */
/* Data-parallel training (train/dist.c): `hook` is called after each node's backward is
 * enqueued, with that node, and with 0 once the whole backward is; a failure stops the pass.
 * NULL: none. */
void model_set_grad_hook(cltrain_model *m, cltrain_status (*hook)(void *user, int node), void *user);
/* The ONNX file the model came from (the export's template; NULL if none), and the name of its
 * classifier once a new head replaced it ("" before). */
const char *model_source_path(const cltrain_model *m);
cltrain_status model_set_source_path(cltrain_model *m, const char *path);
const char *model_old_head(const cltrain_model *m);
/* cv::dnn vs cltrain logits (relative L2) of the last verified export. */
double model_export_error(const cltrain_model *m);
void model_set_export_error(cltrain_model *m, double err);

/* Frees the batch buffers (planned for the current graph): call before the graph changes. */
void model_drop_batch(cltrain_model *m);

/* (Re)creates the device parameter, gradient and momentum blocks and the tensor list from m->g
 * (after loading, or after the graph changed); batch buffers are planned again on next use. */
cltrain_status model_rebuild(cltrain_model *m);

/* Plans buffers for batches up to n, for a forward pass only or for forward and backward
 * (replanning only when n grows, backward is newly needed, or the frozen set changed). */
cltrain_status model_reserve(cltrain_model *m, int n, int backward);

/* Whether BN+ReLU pairs run fused (the default; see model_impl.h's `fused`). Changing it
 * replans on next use. */
void model_set_fusion(cltrain_model *m, int on);

/* A node that computes nothing of its own and shares its input's buffers: a reshape, or a ReLU
 * fused into the BN before it (set by the plan). */
int model_is_view(const cltrain_model *m, int i);

/* A device buffer of a batch besides the activation pool (BN statistics, pooling indices, the
 * shared workspace, labels), sized before any buffer is made so that one check sees them all. */
typedef struct batch_buf {
  const char *what; /* "the workspace", "the max-pool indices of", ... */
  int node;         /* the node it belongs to, or -1 */
  size_t bytes;
  cl_mem *dst;      /* where model_reserve puts it once the check has passed */
} batch_buf;

/* plan.c: lays out pool/ybuf/dybuf for batch n (the pool must be empty), checks that it and the
 * `nextra` other buffers fit the device (memory and largest allocation), and only then
 * allocates the pool. */
cltrain_status model_plan(cltrain_model *m, int n, int backward, const batch_buf *extra, int nextra);
int model_has_params(const graph_node *nd);
int model_lowest_trainable(const cltrain_model *m); /* g.n when nothing trains */

/* Forward pass over the batch already in the input node's buffer; logits stay on the device
 * in pool[ybuf[g.output]]. */
cltrain_status model_forward_device(cltrain_model *m, int n);

/* Backward pass from dlogits already in pool[dybuf[g.output]]: accumulates parameter gradients. */
cltrain_status model_backward_device(cltrain_model *m, int n);

/* Starting part-way up the graph (feature caching, train/cache.c). model_forward_range runs
 * nodes [first, last) forward; the outputs the nodes from `first` on read must already be in
 * their buffers (model_node_output). model_loss_grad_from is cltrain_model_loss_grad from node
 * `first` on: nodes below `first` are not run and must be frozen (when first > 0 only the
 * gradients of nodes >= first are zeroed); the batch buffers must be planned for n
 * (model_reserve with backward). first 0 with the images in node 0 is the whole pass. */
cltrain_status model_forward_range(cltrain_model *m, int first, int last, int n);
cltrain_status model_loss_grad_from(cltrain_model *m, int first, const int *labels, int n, float *loss,
                                    float *logits);
buf model_node_output(const cltrain_model *m, int i); /* node i's output buffer (planned) */

/* Profiling, for `cltrain bench` (docs/performance.md): with the context's CLTRAIN_OPT_PROFILE
 * on (the tool sets it from $CLTRAIN_PROFILE) every node of model_forward_device/
 * model_backward_device runs between clFinish calls and its wall time adds to the context's
 * total per (node_op, pass): pass 0 forward, 1 backward. Slower than a normal run (no overlap of
 * enqueues); off, it costs one branch per node. */
enum { MODEL_PROFILE_OPS = NODE_OP_COUNT };
void model_profile_totals(const cltrain_context *cx, double seconds[MODEL_PROFILE_OPS][2],
                          long calls[MODEL_PROFILE_OPS][2]);
void model_profile_reset(cltrain_context *cx);

/* The tensor named `name`, or NULL. */
const model_tensor *model_find_tensor(const cltrain_model *m, const char *name);

#ifdef __cplusplus
}
#endif
#endif
