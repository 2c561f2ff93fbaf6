/* tools.c: the public calls that the cltrain tool's devices, info and bench commands need
 * (cltrain.h, "for tools"): a context's launch limits and GEMM path, a model's nodes, the
 * profiler's totals and the launch count, an atomic file write. Thin wrappers over the runtime,
 * the importer, the model's profiler and core/atomic_file. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/atomic_file.h"
#include "runtime/blas.h"
#include "graph/graph.h"
#include "model/model.h"
#include "runtime/runtime.h"

cltrain_status cltrain_context_get_details(const cltrain_context *cx, cltrain_context_details *out) {
  const char *fn = "cltrain_context_get_details";
  if (!cx || !out) return rt_fail(NULL, CLTRAIN_ERR_ARG, "%s: NULL argument", fn);
  if (out->size != sizeof *out)
    return rt_fail(NULL, CLTRAIN_ERR_ARG, "%s: cltrain_context_details.size is %zu, this library's "
                   "is %zu", fn, out->size, sizeof *out);
  char ext[8192] = "";
  size_t wi[3] = {0, 0, 0};
  /* informational only: a device that does not answer shows no extensions */
  clGetDeviceInfo(cx->device, CL_DEVICE_EXTENSIONS, sizeof ext - 1, ext, NULL);
  clGetDeviceInfo(cx->device, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof wi, wi, NULL);
  *out = (cltrain_context_details){
      .size = sizeof *out,
      .gemm_backend = blas_backend_name(cx),
      .gemm_tuning = blas_tuning_name(cx),
      .max_work_group = cx->limits.max_work_group,
      .max_work_items = {wi[0], wi[1], wi[2]},
      .local_mem_bytes = cx->limits.local_mem_bytes,
      .max_alloc_bytes = cx->info.max_alloc_bytes,
      .reduce_width = rt_reduce_width(cx),
      .fp64 = cx->limits.fp64,
      .fp16 = strstr(ext, "cl_khr_fp16") != NULL,
      .subgroups = strstr(ext, "cl_khr_subgroups") || strstr(ext, "cl_intel_subgroups"),
      .native_kernels = cx->limits.native_kernels,
  };
  return CLTRAIN_OK;
}

cltrain_status cltrain_onnx_nodes(cltrain_context *cx, const char *path, cltrain_node_info *out,
                                  int cap, int *count) {
  const char *fn = "cltrain_onnx_nodes";
  if (!path || !count || cap < 0 || (!out && cap))
    return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: NULL path or count, or out NULL with cap %d", fn, cap);
  graph_desc g;
  TRY(graph_import_onnx(cx, path, &g));
  for (int i = 0; i < g.n && i < cap; i++) {
    const graph_node *nd = &g.nodes[i];
    cltrain_node_info *o = &out[i];
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", nd->name);
    o->op = graph_op_name(nd->op);
    o->c = nd->c, o->h = nd->h, o->w = nd->w;
    o->stage = nd->op == NODE_INPUT ? -1 : nd->stage;
    o->is_output = i == g.output;
    o->out_features = nd->op == NODE_LINEAR ? nd->out_features : 0;
    o->trainable = nd->ntrainable;
    o->stored = nd->nparams;
  }
  *count = g.n;
  graph_free(&g);
  return CLTRAIN_OK;
}

cltrain_status cltrain_context_get_profile(const cltrain_context *cx, cltrain_profile_entry *out, int cap,
                                          int *count) {
  if (!cx || !count || cap < 0 || (!out && cap))
    return rt_fail(NULL, CLTRAIN_ERR_ARG, "cltrain_context_get_profile: NULL cx or count, or out NULL "
                   "with cap %d", cap);
  double sec[MODEL_PROFILE_OPS][2];
  long calls[MODEL_PROFILE_OPS][2];
  model_profile_totals(cx, sec, calls);
  int n = 0;
  for (int op = 0; op < MODEL_PROFILE_OPS; op++) {
    if (!calls[op][0] && !calls[op][1]) continue;
    if (n < cap)
      out[n] = (cltrain_profile_entry){graph_op_name((node_op)op), {sec[op][0], sec[op][1]},
                                       {calls[op][0], calls[op][1]}};
    n++;
  }
  *count = n;
  return CLTRAIN_OK;
}

cltrain_status cltrain_context_reset_profile(cltrain_context *cx) {
  if (!cx) return rt_fail(NULL, CLTRAIN_ERR_ARG, "cltrain_context_reset_profile: cx is NULL");
  model_profile_reset(cx);
  return CLTRAIN_OK;
}

unsigned long cltrain_debug_launch_count(void) { return rt_launch_count(); }

cltrain_status cltrain_write_file(const char *path, const void *data, size_t bytes) {
  if (!path || (!data && bytes))
    return rt_fail(NULL, CLTRAIN_ERR_ARG, "cltrain_write_file: NULL path, or NULL data of %zu bytes", bytes);
  int err = atomic_file_write_all(path, data, bytes);
  if (err) return rt_fail(NULL, CLTRAIN_ERR_IO, "cannot write '%s': %s", path, strerror(err));
  return CLTRAIN_OK;
}
