/* node_kinds.h: the op table. One entry per node_op (node_kinds.c) says all that the graph, the
 * executor, the memory plan, the tensor list and the exporter need to know about an op, so a
 * new op is its own ops/<op>.c and kernels/<op>.cl plus one entry (and one importer row). */
#ifndef CLTRAIN_NODE_KINDS_H
#define CLTRAIN_NODE_KINDS_H

#include "model/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What an op's backward reads besides its output gradient (node_kind.backward_reads): the plan
 * keeps those buffers alive from the forward pass until the backward one. */
enum {
  READS_INPUTS = 1,         /* every input's data (BN's x, for xhat) */
  READS_INPUTS_IF_TRAINED = 2, /* its inputs, only while its parameters train (conv's dW = dy x) */
  READS_OUTPUT = 4          /* its own output (ReLU: dy where y > 0) */
};

/* The gradients a backward writes into its inputs' buffers: dx[k] for input k, NULL where no
 * gradient is needed (nothing below it trains, or the input is the image); acc[k] says whether to
 * overwrite (OP_OVERWRITE: the first writer) or add (OP_ACCUMULATE: fan-out). */
typedef struct node_grads {
  buf dx[GRAPH_MAX_INPUTS];
  int acc[GRAPH_MAX_INPUTS];
} node_grads;

typedef struct node_kind {
  const char *name; /* "conv", "bn", ... as `cltrain info` and `cltrain bench` print it */
  /* Shares its input's buffer, no data moves (flatten, identity): never run, never planned. */
  int is_view;
  /* Has no torch module of its own (x + y, torch.flatten): named after its parent scope. */
  int functional;
  /* Output shape (nd->c, h, w) from the inputs' and the node's fields; starts as input 0's shape.
   * Returns 0, or -1 with the reason in `why`. NULL: elementwise, the shape of input 0. */
  int (*infer)(const graph_node *nodes, graph_node *nd, char *why, size_t cap);
  /* Names its slice of the parameter block (model_add_tensor), as PyTorch's state_dict does.
   * NULL: the op has no parameters. */
  void (*tensors)(cltrain_model *m, int i);
  /* 1 when its parameter tensors, in order, are the ONNX node's operands 1, 2, ... (conv's W and
   * b, BN's gamma, beta, mean, var), so the exporter writes them back without op knowledge. */
  int onnx_operands;
  /* Forward over a batch of n: reads the inputs' outputs, writes its own. NULL: a view or input. */
  cltrain_status (*forward)(cltrain_model *m, int i, int n);
  /* Backward: reads its output gradient (model_node_dy) and what backward_reads names, writes
   * g->dx and, unless the node is frozen, adds to its parameter gradients. */
  cltrain_status (*backward)(cltrain_model *m, int i, int n, const node_grads *g);
  unsigned backward_reads;
  /* 1: its forward may write its output over input 0 (same shape; each work-item reads its
   * element before writing it, and every statistic is taken before the first write). The plan
   * gives it input 0's buffer when nothing reads that input afterwards, backward included. */
  int in_place;
  /* Floats of the shared scratch buffer a batch of n needs. NULL: none. */
  size_t (*workspace_floats)(const cltrain_model *m, int i, int n);
  /* Bytes of a per-node buffer kept from forward to backward (model_node_aux), named `aux_what`
   * in out-of-memory messages. NULL: none. */
  size_t (*aux_bytes)(const graph_node *nd, int n);
  const char *aux_what;
  /* The program its GEMM-backed passes build ("conv2d.cl"): the prebuild walk does not run these
   * (the GEMM would be enqueued) and names the program instead. NULL: no GEMM. */
  const char *gemm_program;
} node_kind;

/* The entry of op (never NULL: an out-of-range op gets an entry named "?" with no passes). */
const node_kind *node_kind_of(node_op op);

/* ---- what an entry's functions use (model.c) ---- */

/* Parameters of node nd from its k-th float on, and their gradient (absent if nd is frozen). */
buf model_node_param(const cltrain_model *m, const graph_node *nd, size_t k);
buf model_node_grad(const cltrain_model *m, int i, size_t k);
buf model_node_dy(const cltrain_model *m, int i); /* node i's output gradient (planned) */
buf model_node_aux(const cltrain_model *m, int i);
buf model_workspace(const cltrain_model *m);
/* Elements of node i's output for a batch of n. */
size_t model_node_count(const cltrain_model *m, int i, int n);
/* Appends a tensor "<node name>.<suffix>" to the model's list. */
void model_add_tensor(cltrain_model *m, int node, const char *suffix, size_t off, size_t count, int learnable);

#ifdef __cplusplus
}
#endif
#endif
