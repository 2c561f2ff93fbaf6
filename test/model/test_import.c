/* test_import.c: ONNX import through cv::dnn against PyTorch's own models (test/ref/ref_models.py):
 * node counts, torchvision names, every parameter tensor, shapes, edges, stage aliases and
 * totals for ResNet-18 (BN kept and folded, opsets 11 and 13) and ResNet-34, then every error
 * path. No OpenCL is needed except for the one check that errors land on a context. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "graph/graph.h"
#include "graph/graph_build.h"
#include "reftensor.h"

static char *ref_path(const char *file) {
  static char buf[4][1024];
  static int next;
  const char *dir = getenv("CLTRAIN_REF_DIR");
  char *b = buf[next++ % 4];
  snprintf(b, sizeof buf[0], "%s/%s", dir ? dir : ".", file);
  return b;
}

/* The torchvision module paths of the conv, bn and linear layers, in model order. */
static int read_names(const char *file, char names[][96], int cap) {
  FILE *f = fopen(ref_path(file), "r");
  if (!f) {
    fprintf(stderr, "missing %s: run the gen_refs fixture\n", ref_path(file));
    exit(1);
  }
  int n = 0;
  char line[256];
  while (n < cap && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = 0;
    if (line[0]) snprintf(names[n++], 96, "%.95s", line);
  }
  fclose(f);
  return n;
}

static int count_op(const graph_desc *g, node_op op) {
  int k = 0;
  for (int i = 0; i < g->n; i++) k += g->nodes[i].op == op;
  return k;
}

static int is_param_op(node_op op) { return op == NODE_CONV || op == NODE_BN || op == NODE_LINEAR; }

/* Compares n floats of the graph's parameter block with a state_dict tensor, bitwise: the
 * importer must copy, never recompute. */
static int same_tensor(const graph_desc *g, size_t off, const ref_set *r, const char *node,
                       const char *field, size_t n) {
  char key[128];
  snprintf(key, sizeof key, "%s.%s", node, field);
  size_t rn = 0;
  const float *ref = ref_f32(r, key, &rn);
  return CHECK(rn == n && off + n <= g->nparams && !memcmp(g->params + off, ref, n * sizeof *ref),
               "%s: %zu values bitwise equal to the state_dict (ref holds %zu)", key, n, rn);
}

static void check_shape(const graph_desc *g, const char *name, int c, int h, int w) {
  int i = graph_find(g, name);
  CHECK(i > 0 && g->nodes[i].c == c && g->nodes[i].h == h && g->nodes[i].w == w,
        "%s output %dx%dx%d (got %dx%dx%d)", name, c, h, w, i > 0 ? g->nodes[i].c : -1,
        i > 0 ? g->nodes[i].h : -1, i > 0 ? g->nodes[i].w : -1);
}

static int inputs_are(const graph_desc *g, const char *node, const char *a, const char *b) {
  int i = graph_find(g, node), ia = graph_find(g, a), ib = graph_find(g, b);
  if (i < 0 || ia < 0 || ib < 0 || g->nodes[i].ninputs != 2) return 0;
  const int *in = g->nodes[i].inputs;
  return (in[0] == ia && in[1] == ib) || (in[0] == ib && in[1] == ia);
}

/* stem, stageN and head selections, checked against torchvision's module paths. */
static void check_stages(const graph_desc *g, const char *tag, int bn_kept) {
  int idx[512];
  int n = graph_select(g, "stem", idx, 512);
  const char *stem_bn[] = {"conv1", "bn1", "relu", "maxpool"}, *stem_fold[] = {"conv1", "relu", "maxpool"};
  const char **want = bn_kept ? stem_bn : stem_fold;
  int nwant = bn_kept ? 4 : 3, ok = n == nwant;
  for (int i = 0; ok && i < n; i++) ok = !strcmp(g->nodes[idx[i]].name, want[i]);
  CHECK(ok, "%s: stem is conv1,%s relu, maxpool (%d nodes)", tag, bn_kept ? " bn1," : "", n);
  CHECK(g->nstages == 4, "%s: 4 stages (got %d)", tag, g->nstages);
  int total = n;
  for (int s = 1; s <= 4; s++) {
    char stage[16], layer[16];
    snprintf(stage, sizeof stage, "stage%d", s);
    snprintf(layer, sizeof layer, "layer%d", s);
    int a[512], b[512];
    int na = graph_select(g, stage, a, 512), nb = graph_select(g, layer, b, 512);
    CHECK(na > 0 && na == nb && !memcmp(a, b, (size_t)na * sizeof *a),
          "%s: %s selects exactly torchvision's %s.* (%d vs %d nodes)", tag, stage, layer, na, nb);
    total += na;
  }
  n = graph_select(g, "head", idx, 512);
  int params = 0, fc = 0, pool = 0;
  for (int i = 0; i < n; i++) {
    params += is_param_op(g->nodes[idx[i]].op);
    fc += !strcmp(g->nodes[idx[i]].name, "fc");
    pool += g->nodes[idx[i]].op == NODE_GLOBAL_AVGPOOL;
  }
  CHECK(params == 1 && fc == 1 && pool == 1, "%s: head = avgpool .. fc, fc its only parameter layer", tag);
  total += n;
  CHECK(total == g->n - 1, "%s: stem, stages and head cover all %d nodes (%d)", tag, g->n - 1, total);
  CHECK(graph_select(g, "stage5", NULL, 0) == 0 && graph_select(g, "stage0", NULL, 0) == 0,
        "%s: stage5 and stage0 select nothing", tag);
}

/* A BN-kept export: every parameter layer by name, and every tensor bitwise. */
static void check_bn_kept(const char *onnx, const char *arch, int nconv, size_t trainable) {
  char refname[64], namesfile[64];
  snprintf(refname, sizeof refname, "models_%s", arch);
  snprintf(namesfile, sizeof namesfile, "models_%s_names.txt", arch);
  graph_desc g;
  if (!CHECK_OK(graph_import_onnx(NULL, ref_path(onnx), &g))) return;
  ref_set *r = ref_load(refname);
  CHECK(count_op(&g, NODE_CONV) == nconv && count_op(&g, NODE_BN) == nconv &&
            count_op(&g, NODE_LINEAR) == 1,
        "%s: %d conv, %d bn, 1 linear (got %d, %d, %d)", onnx, nconv, nconv, count_op(&g, NODE_CONV),
        count_op(&g, NODE_BN), count_op(&g, NODE_LINEAR));

  static char names[256][96];
  int nnames = read_names(namesfile, names, 256), k = 0, names_ok = 1, tensors_ok = 1;
  size_t stored = 0;
  for (int i = 0; i < g.n; i++) {
    const graph_node *nd = &g.nodes[i];
    if (!is_param_op(nd->op)) {
      CHECK(nd->nparams == 0, "%s: %s holds no parameters", onnx, nd->name);
      continue;
    }
    if (k >= nnames || strcmp(nd->name, names[k])) {
      names_ok = 0;
      CHECK(0, "%s: parameter layer %d is '%s', torchvision has '%s'", onnx, k, nd->name,
            k < nnames ? names[k] : "(none)");
    }
    k++;
    size_t o = nd->param_off;
    CHECK(o == stored, "%s: %s's parameters follow the previous layer's", onnx, nd->name);
    if (nd->op == NODE_CONV) {
      size_t nw = (size_t)nd->k * g.nodes[nd->inputs[0]].c * nd->r * nd->s;
      tensors_ok &= same_tensor(&g, o, r, nd->name, "weight", nw);
      tensors_ok &= CHECK(!nd->has_bias && nd->nparams == nw, "%s: %s has no bias", onnx, nd->name);
    } else if (nd->op == NODE_BN) {
      size_t c = (size_t)nd->c;
      tensors_ok &= same_tensor(&g, o, r, nd->name, "weight", c);
      tensors_ok &= same_tensor(&g, o + c, r, nd->name, "bias", c);
      tensors_ok &= same_tensor(&g, o + 2 * c, r, nd->name, "running_mean", c);
      tensors_ok &= same_tensor(&g, o + 3 * c, r, nd->name, "running_var", c);
      tensors_ok &= CHECK(nd->eps == 1e-5f && nd->ntrainable == 2 * c, "%s: %s eps 1e-5, 2C trainable",
                          onnx, nd->name);
    } else {
      size_t nw = (size_t)nd->out_features * nd->in_features;
      CHECK(nd->in_features == 512 && nd->out_features == 1000 && nd->has_bias,
            "%s: fc is 512 -> 1000 with bias", onnx);
      tensors_ok &= same_tensor(&g, o, r, nd->name, "weight", nw);
      tensors_ok &= same_tensor(&g, o + nw, r, nd->name, "bias", (size_t)nd->out_features);
    }
    stored += nd->nparams;
  }
  CHECK(names_ok && k == nnames, "%s: all %d parameter layers carry torchvision's names", onnx, nnames);
  CHECK(tensors_ok, "%s: every imported tensor equals the state_dict", onnx);
  CHECK(stored == g.nparams, "%s: the parameter block holds exactly the layers' tensors", onnx);
  CHECK(graph_trainable_count(&g) == trainable && (double)trainable == ref_scalar(r, "nparams"),
        "%s: %zu trainable parameters, as torchvision counts (got %zu)", onnx, trainable,
        graph_trainable_count(&g));

  CHECK(g.in_c == 3 && g.in_h == 224 && g.in_w == 224 && g.nodes[0].op == NODE_INPUT, "%s: input 3x224x224", onnx);
  check_shape(&g, "conv1", 64, 112, 112);
  check_shape(&g, "maxpool", 64, 56, 56);
  check_shape(&g, "layer1.0.relu_1", 64, 56, 56);
  check_shape(&g, "layer2.0.downsample.1", 128, 28, 28);
  check_shape(&g, "layer3.1.conv2", 256, 14, 14);
  check_shape(&g, "layer4.1.relu_1", 512, 7, 7);
  check_shape(&g, "avgpool", 512, 1, 1);
  check_shape(&g, "fc", 1000, 1, 1);
  CHECK(g.output == graph_find(&g, "fc"), "%s: the logits are fc's output", onnx);
  int c1 = graph_find(&g, "conv1"), mp = graph_find(&g, "maxpool"), ds = graph_find(&g, "layer2.0.downsample.0");
  CHECK(c1 > 0 && g.nodes[c1].r == 7 && g.nodes[c1].stride_h == 2 && g.nodes[c1].pad_h == 3 &&
            g.nodes[c1].inputs[0] == 0,
        "%s: conv1 is 7x7, stride 2, pad 3, on the input", onnx);
  CHECK(mp > 0 && g.nodes[mp].op == NODE_MAXPOOL && g.nodes[mp].r == 3 && g.nodes[mp].stride_w == 2 &&
            g.nodes[mp].pad_w == 1 && !g.nodes[mp].ceil_mode,
        "%s: maxpool 3x3, stride 2, pad 1", onnx);
  CHECK(ds > 0 && g.nodes[ds].r == 1 && g.nodes[ds].stride_h == 2 && g.nodes[ds].pad_h == 0,
        "%s: downsample conv 1x1 stride 2", onnx);
  CHECK(inputs_are(&g, "layer1.0.add", "layer1.0.bn2", "maxpool"), "%s: layer1.0's add joins bn2 and the stem", onnx);
  CHECK(inputs_are(&g, "layer2.0.add", "layer2.0.bn2", "layer2.0.downsample.1"),
        "%s: layer2.0's add joins bn2 and the downsample", onnx);
  for (int i = 1; i < g.n; i++)
    for (int j = 0; j < g.nodes[i].ninputs; j++)
      if (g.nodes[i].inputs[j] >= i) CHECK(0, "%s: node %d's input %d is not earlier", onnx, i, j);
  check_stages(&g, onnx, 1);
  ref_free(r);
  graph_free(&g);
  CHECK(g.nodes == NULL && g.n == 0, "graph_free zeroes the graph");
  graph_free(&g); /* twice is harmless */
}

/* A default (BN-folded) export: convs with biases equal to PyTorch's own folding. */
static void check_folded(const char *onnx) {
  graph_desc g;
  if (!CHECK_OK(graph_import_onnx(NULL, ref_path(onnx), &g))) return;
  ref_set *r = ref_load("models_resnet18_fold"), *sd = ref_load("models_resnet18");
  CHECK(count_op(&g, NODE_CONV) == 20 && count_op(&g, NODE_BN) == 0 && count_op(&g, NODE_LINEAR) == 1,
        "%s: 20 conv, 0 bn, 1 linear", onnx);
  int ok = 1, nconv = 0;
  double worst = 0;
  for (int i = 0; i < g.n; i++) {
    const graph_node *nd = &g.nodes[i];
    if (nd->op != NODE_CONV) continue;
    nconv++;
    char kw[128], kb[128];
    snprintf(kw, sizeof kw, "%s.weight", nd->name);
    snprintf(kb, sizeof kb, "%s.bias", nd->name);
    if (!ref_has(r, kw)) {
      ok = CHECK(0, "%s: conv '%s' has no torchvision counterpart", onnx, nd->name);
      continue;
    }
    size_t nw, nb;
    const float *w = ref_f32(r, kw, &nw), *b = ref_f32(r, kb, &nb);
    ok &= CHECK(nd->has_bias && nd->nparams == nw + nb, "%s: %s has a folded bias", onnx, nd->name);
    if (nd->nparams != nw + nb) continue;
    /* torch folds in float32 and the reference in float64: a few ulps apart */
    double ew = rel_l2(g.params + nd->param_off, w, nw), eb = rel_l2(g.params + nd->param_off + nw, b, nb);
    worst = ew > worst ? ew : worst;
    worst = eb > worst ? eb : worst;
  }
  CHECK(ok && nconv == 20, "%s: 20 convs named as torchvision's", onnx);
  CHECK(worst <= 1e-6, "%s: folded conv weights and biases match BN folding in float64 (worst rel L2 %.2e <= 1e-6)",
        onnx, worst);
  int fc = graph_find(&g, "fc");
  if (CHECK(fc > 0, "%s: fc found", onnx)) {
    size_t nw = 512 * 1000;
    same_tensor(&g, g.nodes[fc].param_off, sd, "fc", "weight", nw);
    same_tensor(&g, g.nodes[fc].param_off + nw, sd, "fc", "bias", 1000);
  }
  /* ResNet-18's 4800 BN channels: gamma and beta (9600) become one bias each (4800) */
  CHECK(graph_trainable_count(&g) == 11689512 - 4800 && g.nparams == graph_trainable_count(&g),
        "%s: 11,684,712 parameters after folding (got %zu)", onnx, graph_trainable_count(&g));
  check_shape(&g, "layer4.1.conv2", 512, 7, 7);
  check_shape(&g, "fc", 1000, 1, 1);
  check_stages(&g, onnx, 0);
  ref_free(r);
  ref_free(sd);
  graph_free(&g);
}

static void check_fails(cltrain_context *cx, const char *file, cltrain_status want, const char *must1,
                        const char *must2) {
  graph_desc g;
  memset(&g, 0xab, sizeof g); /* a failed import must zero it */
  const char *path = ref_path(file);
  cltrain_status st = graph_import_onnx(cx, path, &g);
  const char *msg = cltrain_last_error(cx);
  CHECK(st == want, "%s: %s (got %s)", file, cltrain_status_str(want), cltrain_status_str(st));
  CHECK(strstr(msg, path) != NULL, "%s: the message names the path: %s", file, msg);
  CHECK(!must1 || strstr(msg, must1), "%s: the message says '%s': %s", file, must1 ? must1 : "", msg);
  CHECK(!must2 || strstr(msg, must2), "%s: the message says '%s': %s", file, must2 ? must2 : "", msg);
  CHECK(g.nodes == NULL && g.params == NULL && g.n == 0, "%s: *out zeroed on failure", file);
}

static void check_names(void) {
  static const struct {
    const char *onnx, *want;
    int functional;
  } cases[] = {
      {"onnx_node!/conv1/Conv", "conv1", 0},
      {"onnx_node!/layer1/layer1.0/conv1/Conv", "layer1.0.conv1", 0},
      {"onnx_node!/layer2/layer2.0/downsample/downsample.0/Conv", "layer2.0.downsample.0", 0},
      {"onnx_node!/layer2/layer2.0/downsample/downsample.1/BatchNormalization", "layer2.0.downsample.1", 0},
      {"onnx_node!/layer1/layer1.0/Add", "layer1.0.add", 1},
      {"onnx_node!/Flatten", "flatten", 1},
      {"onnx_node!/Flatten/flatten", "flatten", 1},
      {"onnx_node!/features/features.3/Conv", "features.3", 0},
      {"logits", "logits", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[96];
    graph_friendly_name(cases[i].onnx, cases[i].functional, out, sizeof out);
    CHECK(!strcmp(out, cases[i].want), "friendly name of %s is %s (got %s)", cases[i].onnx, cases[i].want, out);
  }
}

int main(void) {
  check_names();
  check_bn_kept("resnet18_bn_op13.onnx", "resnet18", 20, 11689512);
  check_bn_kept("resnet18_bn_op11.onnx", "resnet18", 20, 11689512);
  check_bn_kept("resnet34_bn_op13.onnx", "resnet34", 36, 21797672);
  check_folded("resnet18_fold_op13.onnx");
  check_folded("resnet18_fold_op11.onnx");

  graph_desc g;
  CHECK(graph_select(NULL, "stem", NULL, 0) == -1 && graph_find(NULL, "fc") == -1 &&
            graph_trainable_count(NULL) == 0,
        "NULL graphs are refused");
  graph_free(NULL);
  if (CHECK_OK(graph_import_onnx(NULL, ref_path("resnet18_bn_op13.onnx"), &g))) {
    int idx[64];
    CHECK(graph_select(&g, "layer1.0", idx, 64) == 7 && !strcmp(g.nodes[idx[0]].name, "layer1.0.conv1"),
          "prefix layer1.0 selects its 7 nodes, in order");
    CHECK(graph_select(&g, "layer1.0.conv", NULL, 0) == 0, "a prefix must end at a dot");
    CHECK(graph_select(&g, "fc", idx, 1) == 1 && idx[0] == g.output, "an exact name selects that node");
    CHECK(graph_find(&g, "layer9.0.conv1") == -1, "an unknown name is not found");
    /* upto:NAME's fallback: a module inside the path, at dot boundaries, never the first component */
    CHECK(graph_find_module(&g, "0.downsample") == graph_find(&g, "layer2.0.downsample.0") &&
              graph_find_module(&g, "conv1") == graph_find(&g, "layer1.0.conv1") &&
              graph_find_module(&g, "0.conv") == -1 && graph_find_module(&g, "layer1") == -1 &&
              graph_find_module(&g, "") == -1 && graph_find_module(NULL, "conv1") == -1 &&
              graph_find_module(&g, NULL) == -1,
          "graph_find_module: the first node holding the module path inside its name");

    /* other input sizes, as torch computes them: 160 -> 80 -> 40 -> 40, 20, 10, 5 */
    CHECK_OK(graph_reshape(NULL, &g, 160, 96));
    check_shape(&g, "conv1", 64, 80, 48);
    check_shape(&g, "maxpool", 64, 40, 24);
    check_shape(&g, "layer4.1.relu_1", 512, 5, 3);
    check_shape(&g, "fc", 1000, 1, 1);
    int ap = graph_find(&g, "avgpool");
    CHECK(ap > 0 && g.nodes[ap].r == 5 && g.nodes[ap].s == 3, "the global pool's window follows its input");
    CHECK(g.in_h == 160 && g.in_w == 96 && g.nodes[0].h == 160, "the graph records the new input size");
    /* odd sizes: (33+6-7)/2+1 = 17, (17+2-3)/2+1 = 9, then 9, 5, 3, 2 */
    CHECK_OK(graph_reshape(NULL, &g, 33, 33));
    check_shape(&g, "maxpool", 64, 9, 9);
    check_shape(&g, "layer2.0.add", 128, 5, 5);
    check_shape(&g, "layer4.0.downsample.1", 512, 2, 2);
    CHECK_STATUS(graph_reshape(NULL, &g, 0, 224), CLTRAIN_ERR_ARG);
    CHECK_STATUS(graph_reshape(NULL, NULL, 224, 224), CLTRAIN_ERR_ARG);
    check_shape(&g, "maxpool", 64, 9, 9); /* a failed reshape changes nothing */
    CHECK_OK(graph_reshape(NULL, &g, 224, 224));
    check_shape(&g, "layer4.1.relu_1", 512, 7, 7);
    graph_free(&g);
  }

  /* a graph without residual forks: all stem and head; input channels from the first conv; the
   * file declares an 8x8 input, which the import applies */
  if (CHECK_OK(graph_import_onnx(NULL, ref_path("tiny_ok.onnx"), &g))) {
    int conv = graph_find(&g, "conv"), fc = graph_find(&g, "fc");
    CHECK(g.in_c == 2 && conv == 1 && g.nodes[conv].has_bias && g.nodes[conv].nparams == 4 * 2 * 9 + 4 &&
              g.nodes[conv].c == 4 && g.nodes[conv].h == 8 && g.in_h == 8 && g.in_w == 8,
          "tiny: conv 2 -> 4 with bias, same padding, at the declared 8x8");
    CHECK(fc > 0 && g.output == fc && g.nodes[fc].in_features == 4 && g.nodes[fc].out_features == 3 &&
              graph_trainable_count(&g) == 76 + 15,
          "tiny: fc 4 -> 3, 91 parameters");
    CHECK(g.nstages == 0 && graph_select(&g, "stem", NULL, 0) == 2 && graph_select(&g, "head", NULL, 0) == g.n - 3,
          "tiny: no stages; stem conv, relu; the rest is head");
    graph_free(&g);
  }

  check_fails(NULL, "no_such_model.onnx", CLTRAIN_ERR_IO, "no_such_model.onnx", NULL);
  check_fails(NULL, "bad_truncated.onnx", CLTRAIN_ERR_FORMAT, NULL, NULL);
  check_fails(NULL, "bad_unsupported.onnx", CLTRAIN_ERR_UNSUPPORTED, "onnx_node!/act/Softmax", "type Softmax");
  check_fails(NULL, "bad_no_classifier.onnx", CLTRAIN_ERR_UNSUPPORTED, "classifier", "GlobalAveragePool");
  check_fails(NULL, "bad_sub.onnx", CLTRAIN_ERR_UNSUPPORTED, "onnx_node!/Sub", "other than x + y");
  /* groups that do not divide the outputs: cv::dnn refuses them as it reads the file */
  check_fails(NULL, "bad_grouped.onnx", CLTRAIN_ERR_FORMAT, "onnx_node!/dw/Conv", "numOutput % ngroups");
  /* filters over 3 channels of a 4-channel input: cv::dnn's shapes refuse them */
  check_fails(NULL, "bad_group_channels.onnx", CLTRAIN_ERR_FORMAT, "onnx_node!/g3/Conv", "multiple of 3 but got 4");
  check_fails(NULL, "bad_pad.onnx", CLTRAIN_ERR_UNSUPPORTED, "onnx_node!/pad/Pad", "only a Pad of zeros");
  check_fails(NULL, "bad_concat_axis.onnx", CLTRAIN_ERR_UNSUPPORTED, "onnx_node!/cat/Concat", "over channels");
  CHECK_STATUS(graph_import_onnx(NULL, NULL, &g), CLTRAIN_ERR_ARG);
  CHECK_STATUS(graph_import_onnx(NULL, ref_path("resnet18_bn_op13.onnx"), NULL), CLTRAIN_ERR_ARG);
  /* errors land on the context too */
  cltrain_context *cx = test_context();
  check_fails(cx, "bad_unsupported.onnx", CLTRAIN_ERR_UNSUPPORTED, "Softmax", NULL);
  cltrain_context_destroy(cx);
  return check_done();
}
