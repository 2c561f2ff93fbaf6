/* graph.h: a DAG model held in host memory (nodes in topological order plus one parameter
 * block), as imported from ONNX by import/import_onnx.cpp and later run by the executor on the
 * OpenCL ops. Pure C; it owns no device memory. Shapes are per image (the batch is separate). */
#ifndef CLTRAIN_GRAPH_H
#define CLTRAIN_GRAPH_H

#include <stddef.h>

#include "opencv2/cltrain.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The ops a graph can hold. What each one means to the graph, the executor, the memory plan
 * and the exporter is its entry in the op table, model/node_kinds.c. */
typedef enum node_op {
  NODE_INPUT,          /* the image batch, (in_c, in_h, in_w); always node 0 */
  NODE_CONV,           /* y = conv(x, W) (+ b); W (k, c, r, s), no groups */
  NODE_BN,             /* eval-mode or training batch norm over channels */
  NODE_RELU,           /* max(x, 0) */
  NODE_MAXPOOL,        /* r x s window, stride, pad (padding never wins) */
  NODE_AVGPOOL,        /* r x s window; count_pad says whether padding counts in the divisor */
  NODE_GLOBAL_AVGPOOL, /* mean over h, w: (c, h, w) -> (c, 1, 1) */
  NODE_ADD,            /* inputs[0] + inputs[1], same shape (residual join) */
  NODE_FLATTEN,        /* (c, h, w) -> (c*h*w, 1, 1); a view, no data moves */
  NODE_LINEAR,         /* y = W x + b, W (out_features, in_features) */
  NODE_IDENTITY,       /* y = x; a view (OpenCV names graph outputs with these) */
  NODE_DROPOUT,        /* train mode: y = x * mask / (1 - p); eval: y = x (new heads only) */
  NODE_DEPTHWISE,      /* y = depthwise conv(x, W) (+ b); W (c, 1, r, s): ONNX Conv, group = c = k */
  NODE_HARDSIGMOID,    /* clamp(alpha * x + beta, 0, 1) (MobileNetV3's hardswish is x * this) */
  NODE_MUL,            /* inputs[0] * inputs[1], the second of the same shape or (c, 1, 1) */
  NODE_SIGMOID,        /* 1 / (1 + exp(-x)) (EfficientNet's SiLU is x * this) */
  NODE_CONCAT,         /* inputs[0..ninputs) joined over channels (DenseNet, SqueezeNet's Fire) */
  NODE_OP_COUNT        /* not an op: the size of the op table (model/node_kinds.c) */
} node_op;

/* Stage of a node (graph_node.stage): 0 is the stem, 1..nstages the stages (runs of blocks
 * with one output shape: graph_build.h, graph_assign_stages), and nstages + 1 the head. */
enum { GRAPH_STAGE_STEM = 0 };

/* Most inputs a node can have: a Concat's (DenseNet-201's widest block joins 49 tensors). */
enum { GRAPH_MAX_INPUTS = 64 };

typedef struct graph_node {
  node_op op;
  /* Friendly name, the torchvision module path where the export has one: "conv1", "bn1",
   * "layer1.0.conv1", "layer2.0.downsample.0", "fc"; nodes without parameters get a unique
   * name as well ("layer1.0.relu_1", "layer1.0.add"). Unique in a graph. */
  char name[96];
  char onnx_name[192]; /* the cv::dnn layer name, e.g. "onnx_node!/layer1/layer1.0/conv1/Conv" */
  int inputs[GRAPH_MAX_INPUTS], ninputs; /* producer node indices, all smaller than this node's */
  int c, h, w;            /* output shape per image */
  /* conv and pools: k output channels (conv only), r x s window, strides, pads (symmetric),
   * dilations (conv), has_bias (conv, linear), count_pad (avgpool), ceil_mode (pools), groups
   * (conv: ONNX's group, 0 or 1 for none; a depthwise conv is NODE_DEPTHWISE instead). */
  int k, r, s, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, has_bias, count_pad, ceil_mode, groups;
  float eps;                     /* bn */
  float momentum;                /* bn: torch's running-statistics momentum (0.1 by default) */
  float alpha, beta;             /* hardsigmoid */
  float dropout;                 /* dropout: the drop probability p */
  int in_features, out_features; /* linear */
  /* This node's slice of graph_desc.params, [param_off, param_off + nparams):
   *   conv:   W (k, c_in / groups, r, s), then b (k) if has_bias
   *   bn:     gamma (c), beta (c), running_mean (c), running_var (c)
   *   linear: W (out_features, in_features), then b (out_features) if has_bias
   * ntrainable counts the learnable ones among them (bn: gamma and beta only). */
  size_t param_off, nparams, ntrainable;
  int stage; /* see GRAPH_STAGE_STEM */
} graph_node;

typedef struct graph_desc {
  graph_node *nodes; /* n nodes in topological order; nodes[0] is NODE_INPUT */
  int n;
  float *params; /* the host parameter block, nparams floats */
  size_t nparams;
  int in_c, in_h, in_w; /* the input image shape the node shapes were computed for */
  int output;           /* the node whose output is the logits (c of them): the classifier
                         * (NODE_LINEAR), or the global pool after a 1x1 conv classifier and its
                         * ReLU (SqueezeNet); any later nodes are identity/flatten views of it */
  int nstages;          /* stages between stem and head; the head's stage number is nstages + 1 */
} graph_desc;

/* The classifier: the last parameter layer at or before g->output (a linear, or SqueezeNet's 1x1
 * conv), or -1 if none. */
int graph_classifier(const graph_desc *g);

/* Releases what a graph holds and zeroes it; accepts NULL and an already-freed graph. */
void graph_free(graph_desc *g);

/* "conv", "bn", "relu", ... (static text). */
const char *graph_op_name(node_op op);

/* Whether op only re-labels its input's data (flatten, identity): no computation, no buffer. */
int graph_is_reshape(node_op op);

/* The node whose data node i is: i itself, or the producer a chain of reshapes leads to. */
int graph_data_root(const graph_desc *g, int i);

/* Index of the node whose friendly name is exactly `name`, or -1. */
int graph_find(const graph_desc *g, const char *name);

/* Selects nodes by `sel`, in graph order, writing at most `cap` indices to idx (idx may be NULL
 * when cap is 0) and returning how many match. `sel` is a structural alias, independent of the
 * names (graph.c, graph_assign_stages): "stem" (everything before the first block: ResNet's
 * conv1, bn1, relu, maxpool), "stageN" (N >= 1: the Nth run of blocks with one output shape, so
 * stage1 = ResNet's layer1, EfficientNet's features.1), "head" (global pool, flatten and
 * classifier); or else a name prefix
 * that ends at a dot boundary ("layer1" matches "layer1.0.conv1", not "layer10.x"). The
 * input node belongs to no selection. Returns -1 for a NULL g or sel. */
int graph_select(const graph_desc *g, const char *sel, int *idx, int cap);

/* The first node (in graph order) whose name holds `module` as a whole dotted component path
 * after its first component ("denseblock2" in "features.denseblock2.denselayer1.conv1", not in
 * "features.denseblock20.x"), or -1: torchvision's module names without their parent's prefix,
 * for `upto:NAME` when NAME is not a prefix of any name. */
int graph_find_module(const graph_desc *g, const char *module);

/* Learnable parameters, counted as torchvision's sum(p.numel() for p in m.parameters()):
 * BN running statistics are excluded. (graph_desc.nparams counts them too.) */
size_t graph_trainable_count(const graph_desc *g);

/* Recomputes every node's output shape for h x w input images (all or nothing). A size at
 * which some node cannot run (a window larger than its padded input, a classifier whose
 * in_features no longer match) is CLTRAIN_ERR_ARG naming the node; g is then unchanged. */
cltrain_status graph_reshape(cltrain_context *cx, graph_desc *g, int h, int w);

/* Reads an ONNX model through OpenCV's cv::dnn importer (import/import_onnx.cpp). Node shapes
 * are computed for one image of the size the file declares, 224 x 224 where it declares none
 * (the channel count comes from the first conv); the _buffer variant always uses 224 x 224. A
 * declared size at which some node cannot run is graph_reshape's CLTRAIN_ERR_ARG.
 * Errors (on cx, which may be NULL, and on this thread): CLTRAIN_ERR_ARG for a NULL path or out,
 * CLTRAIN_ERR_IO for a file that cannot be opened, CLTRAIN_ERR_FORMAT for one OpenCV cannot
 * parse, CLTRAIN_ERR_UNSUPPORTED naming the node and its type for any layer cltrain cannot run
 * (and for a graph that ends in neither a fully-connected classifier nor a 1x1 conv, its ReLU and
 * a global average pool). On failure *out is zeroed.
 * OpenCV's own log is silenced while it parses (a process-wide setting, restored after), so
 * its complaints reach the caller only through the message. */
cltrain_status graph_import_onnx(cltrain_context *cx, const char *path, graph_desc *out);
/* The same from the n bytes of an ONNX file in memory, `path` naming them in messages. */
cltrain_status graph_import_onnx_buffer(cltrain_context *cx, const char *path, const void *data, size_t n,
                                        graph_desc *out);

/* The static H x W of the image input `path` declares (import/onnx_input.cpp): 1 and sets *h,
 * *w, or 0 when the file declares none (dynamic sizes) or cannot be read. */
int onnx_declared_input_size(const char *path, int *h, int *w);

/* 1 when the n bytes parse as an ONNX ModelProto that passes onnx::checker::check_model, whose
 * every tensor holds as many values as its shape says and whose group, kernel_shape, strides
 * and dilations are >= 1 and pads >= 0 (import/onnx_input.cpp): checks cv::dnn 4.6 needs passed
 * before it reads a model; else 0 and why (the first problem found). */
int onnx_validate(const void *data, size_t n, char *why, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
