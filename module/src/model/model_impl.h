/* model_impl.h: struct cltrain_model itself, private to model/ (model.c, plan.c, head.c,
 * train.c, node_kinds.c). Everything else reads a model through model.h's functions; the
 * private_includes test (cmake/private_includes.cmake) fails when a file outside
 * module/src/model/ includes this header. */
#ifndef CLTRAIN_MODEL_IMPL_H
#define CLTRAIN_MODEL_IMPL_H

#include "model/model.h"

struct cltrain_model {
  cltrain_context *cx;
  graph_desc g;
  model_tensor *tensors;
  int ntensors;
  cl_mem params, grads; /* the parameter block and its gradient, g.nparams floats each */
  /* Activations (plan.c): node i's output (cap, c, h, w) lives in pool[ybuf[i]] and its
   * gradient in pool[dybuf[i]] (-1: none); views share their input's. Buffers are reused
   * where lifetimes allow, so only the plan's readers may use them. Where the device allows, the
   * pool's buffers are sub-buffers of one arena (their ranges overlap over time). */
  cl_mem *pool;
  cl_mem arena; /* NULL: the pool's buffers are buffers of their own */
  int npool;
  int *ybuf, *dybuf;
  cl_mem *aux;          /* per node: bn saved (mean, invstd) (2, c); maxpool argmax (cap, c, h, w) int */
  /* per node: 1 on a BN whose only reader is a ReLU and on that ReLU. The BN runs as
   * batchnorm_relu_forward/backward (bitwise the same as the two ops), and the ReLU as a view
   * of the BN's output and gradient. Set with the plan (model_reserve). */
  unsigned char *fused;
  int no_fusion;        /* model_set_fusion(m, 0): plan without fusing (tests compare the two) */
  int cap;              /* batch size the plan holds */
  int planned_backward; /* whether the plan keeps what backward reads */
  cl_mem work;          /* scratch shared by all ops, sized for the largest conv/BN need */
  cl_mem labels, loss, argmax; /* (cap) int, (1) float, (cap) int */
  int train;
  size_t act_bytes;     /* device bytes of activation buffers at the current capacity */
  /* transfer learning (train.c, head.c) */
  unsigned char *frozen; /* per node: a frozen parameter layer */
  int frozen_bn;         /* cltrain_frozen_bn */
  cl_mem momentum;       /* SGD momentum buffers, laid out as params */
  unsigned char *has_momentum; /* per tensor: its buffer holds a value (torch creates it lazily) */
  unsigned char *grad_live;    /* per node: a step may have written its gradient since it was zeroed */
  uint64_t dropout_seed, dropout_step;
  int lowest_trainable; /* node index where backward stops (set per backward pass) */
  /* data-parallel training (train/dist.c): called after each node's backward is enqueued with
   * that node, and with 0 once the whole backward is; a failure stops the pass. NULL: none. */
  cltrain_status (*grad_hook)(void *user, int node);
  void *grad_hook_user;
  /* export (export/export_onnx.cpp) */
  char *source_path;        /* the ONNX file the model came from: the export's template */
  char old_head_onnx[192];  /* the source's classifier, once a new head replaced it */
  double last_export_error; /* cv::dnn vs cltrain logits of the last verified export */
};

#endif
