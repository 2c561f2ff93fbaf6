/* graph_build.h: steps every importer shares once it has filled graph_desc's nodes (not part of
 * the graph API that executors use). */
#ifndef CLTRAIN_GRAPH_BUILD_H
#define CLTRAIN_GRAPH_BUILD_H

#include <stddef.h>

#include "graph/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The friendly name for a layer called `onnx_name` ("onnx_node!/layer1/layer1.0/conv1/Conv" ->
 * "layer1.0.conv1"). `functional` marks ops without a module of their own (add, flatten), whose
 * lower-cased op type is appended to the parent's path ("layer1.0.add"). */
void graph_friendly_name(const char *onnx_name, int functional, char *out, size_t cap);

/* Sets nd's output shape (c, h, w; and a global pool's window) from its inputs, which index
 * `nodes`, and from its op fields (k for conv, out_features for linear). Returns 0, or -1 with
 * the reason in `why` when the inputs do not fit it. */
int graph_node_infer(const graph_node *nodes, graph_node *nd, char *why, size_t cap);

/* Makes names unique by suffixing "_2", "_3", ... to later repeats. */
void graph_unique_names(graph_desc *g);

/* Sets every node's stage and g->nstages (see graph_select()); needs n >= 1 nodes whose inputs
 * are set. Fails only when memory runs out. */
cltrain_status graph_assign_stages(cltrain_context *cx, graph_desc *g);

#ifdef __cplusplus
}
#endif
#endif
