/* cmd_info.c: `cltrain info`, what cltrain makes of an ONNX model: nodes, stages and totals. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "graph.h"

/* 11689512 -> "11,689,512" */
static const char *thousands(size_t v, char *buf, size_t cap) {
  char digits[32];
  int n = snprintf(digits, sizeof digits, "%zu", v), o = 0;
  for (int i = 0; i < n && (size_t)o + 2 < cap; i++) {
    if (i && (n - i) % 3 == 0) buf[o++] = ',';
    buf[o++] = digits[i];
  }
  buf[o] = 0;
  return buf;
}

static void stage_name(const graph_desc *g, int stage, char *buf, size_t cap) {
  if (stage == GRAPH_STAGE_STEM) snprintf(buf, cap, "stem");
  else if (stage == g->nstages + 1) snprintf(buf, cap, "head");
  else snprintf(buf, cap, "stage%d", stage);
}

int cmd_info(int argc, char **argv) {
  const char *model = NULL, *device = NULL;
  int bad = 0;
  for (int i = 1; i < argc && !bad; i++) {
    if (cli_flag(argc, argv, &i, "--help", NULL, &bad)) {
      printf("usage: cltrain info --model M.onnx [--device SEL]\n\n"
             "Imports an ONNX model as cltrain would train it and prints each node (name, op,\n"
             "output shape per image for a %s input, parameters), the stages that --freeze\n"
             "and friends accept (stem, stage1.., head) and the parameter totals.\n"
             "With --device, also opens that device, to check it before training.\n",
             "3x224x224");
      return 0;
    }
    if (cli_flag(argc, argv, &i, "--model", &model, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--device", &device, &bad)) continue;
    if (bad) break;
    fprintf(stderr, "cltrain info: unknown option '%s'\n", argv[i]);
    return 2;
  }
  if (bad) return 2;
  if (!model) {
    fprintf(stderr, "cltrain info: --model M.onnx is required\n");
    return 2;
  }
  if (cli_parse_only) return 0;
  cltrain_context *cx = NULL;
  if (device) {
    cltrain_status st = cli_context(device, &cx);
    if (st != CLTRAIN_OK) return cli_fail(NULL, st);
  }
  graph_desc g;
  cltrain_status st = graph_import_onnx(cx, model, &g);
  if (st != CLTRAIN_OK) {
    int rc = cli_fail(cx, st);
    cltrain_context_destroy(cx);
    return rc;
  }
  printf("model: %s\n", model);
  if (cx) {
    cltrain_device_info d;
    if (cltrain_context_device(cx, &d) == CLTRAIN_OK) printf("device: %s (%s)\n", d.name, d.platform);
  }
  printf("input: %dx%dx%d per image\n\n", g.in_c, g.in_h, g.in_w);
  printf("%4s  %-28s %-15s %-14s %12s  %s\n", "#", "name", "op", "output", "params", "stage");
  char num[40], shape[48], stg[16];
  int nconv = 0, nbn = 0, nlinear = 0;
  for (int i = 0; i < g.n; i++) {
    const graph_node *nd = &g.nodes[i];
    nconv += nd->op == NODE_CONV;
    nbn += nd->op == NODE_BN;
    nlinear += nd->op == NODE_LINEAR;
    snprintf(shape, sizeof shape, "%dx%dx%d", nd->c, nd->h, nd->w);
    if (nd->op == NODE_INPUT) snprintf(stg, sizeof stg, "-");
    else stage_name(&g, nd->stage, stg, sizeof stg);
    printf("%4d  %-28s %-15s %-14s %12s  %s\n", i, nd->name, graph_op_name(nd->op), shape,
           thousands(nd->ntrainable, num, sizeof num), stg);
  }
  printf("\nstages:\n");
  for (int s = 0; s <= g.nstages + 1; s++) {
    int first = -1, last = -1, count = 0;
    size_t p = 0;
    for (int i = 1; i < g.n; i++)
      if (g.nodes[i].stage == s) {
        if (first < 0) first = i;
        last = i, count++, p += g.nodes[i].ntrainable;
      }
    stage_name(&g, s, stg, sizeof stg);
    if (count == 0) {
      printf("  %-7s (empty)\n", stg);
      continue;
    }
    printf("  %-7s %3d nodes  %s .. %s  %s parameters, output %dx%dx%d\n", stg, count,
           g.nodes[first].name, g.nodes[last].name, thousands(p, num, sizeof num), g.nodes[last].c,
           g.nodes[last].h, g.nodes[last].w);
  }
  char stored[40];
  printf("\ntotals: %d nodes: %d conv, %d bn, %d linear; classes %d (node %s)\n", g.n - 1, nconv, nbn,
         nlinear, g.nodes[g.output].out_features, g.nodes[g.output].name);
  printf("parameters: %s trainable (as torchvision counts them); %s stored with BN running "
         "statistics\n",
         thousands(graph_trainable_count(&g), num, sizeof num), thousands(g.nparams, stored, sizeof stored));
  graph_free(&g);
  cltrain_context_destroy(cx);
  return 0;
}
