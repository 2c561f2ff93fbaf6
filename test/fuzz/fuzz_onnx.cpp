// fuzz_onnx.cpp: the ONNX import path (bytes -> cv::dnn::readNetFromONNX -> cltrain's graph_desc,
// graph_import_onnx_buffer, which graph_import_onnx uses) on any bytes: a status naming the file,
// never a crash, a leak or an exception. No OpenCL device is needed: import stops at graph_desc.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "graph/graph.h"

#define NAME "fuzz.onnx"

static void die(const char *what) {
  fprintf(stderr, "fuzz_onnx: %s (status text: %s)\n", what, cltrain_last_error(nullptr));
  abort();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  graph_desc g;
  cltrain_status st;
  try {
    st = graph_import_onnx_buffer(nullptr, NAME, data, n, &g);
  } catch (...) {
    die("an exception left graph_import_onnx_buffer");
  }
  if (st != CLTRAIN_OK) {
    if (st != CLTRAIN_ERR_FORMAT && st != CLTRAIN_ERR_UNSUPPORTED && st != CLTRAIN_ERR_OPENCV &&
        st != CLTRAIN_ERR_OUT_OF_MEMORY)
      die("a status other than FORMAT, UNSUPPORTED, OPENCV or OUT_OF_MEMORY");
    if (!strstr(cltrain_last_error(nullptr), NAME)) die("the message does not name the file");
    if (g.n || g.nodes || g.params) die("a failed import left the graph filled");
    return 0;
  }
  // An imported graph: inputs come before their node, the output is a node, the parameters exist.
  if (g.n < 2 || g.output < 0 || g.output >= g.n || !g.params) die("an accepted graph is malformed");
  size_t used = 0;
  for (int i = 0; i < g.n; i++) {
    const graph_node &nd = g.nodes[i];
    for (int k = 0; k < nd.ninputs; k++)
      if (nd.inputs[k] < 0 || nd.inputs[k] >= i) die("a node's input is not an earlier node");
    if (nd.param_off + nd.nparams > g.nparams) die("a node's parameters lie outside the block");
    used += nd.nparams;
  }
  if (used != g.nparams) die("the nodes' parameters do not add up to the block");
  volatile float sum = 0;
  for (size_t i = 0; i < g.nparams; i++) sum += g.params[i];
  (void)sum;
  graph_free(&g);
  return 0;
}
