/* cmd_info.c: `cltrain info`, what cltrain makes of an ONNX model: nodes, stages and totals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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

/* Stages: 0 the stem, 1..nstages the stages, nstages + 1 the head. */
static void stage_name(int nstages, int stage, char *buf, size_t cap) {
  if (stage == 0) snprintf(buf, cap, "stem");
  else if (stage == nstages + 1) snprintf(buf, cap, "head");
  else snprintf(buf, cap, "stage%d", stage);
}

int cmd_info(int argc, char **argv) {
  const char *model = NULL, *device = NULL;
  int bad = 0;
  for (int i = 1; i < argc && !bad; i++) {
    if (cli_flag(argc, argv, &i, "--help", NULL, &bad)) {
      printf("usage: cltrain info --model M.onnx [--device SEL]\n\n"
             "Imports an ONNX model as cltrain would train it and prints each node (name, op,\n"
             "output shape per image at the input size the file declares, 224x224 where it\n"
             "declares none; parameters), the stages that --freeze and friends accept (stem,\n"
             "stage1.., head) and the parameter totals.\n"
             "With --device, also opens that device, to check it before training.\n");
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
  int n = 0;
  cltrain_node_info *nodes = NULL;
  cltrain_status st = cltrain_onnx_nodes(cx, model, NULL, 0, &n);
  if (st == CLTRAIN_OK && !(nodes = calloc((size_t)n, sizeof *nodes))) st = CLTRAIN_ERR_OUT_OF_MEMORY;
  if (st == CLTRAIN_OK) st = cltrain_onnx_nodes(cx, model, nodes, n, &n);
  if (st != CLTRAIN_OK) {
    int rc = cli_fail(cx, st);
    free(nodes);
    cltrain_context_destroy(cx);
    return rc;
  }
  int output = 0, nstages = 0;
  size_t trainable = 0, stored = 0;
  for (int i = 0; i < n; i++) {
    if (nodes[i].is_output) output = i;
    trainable += nodes[i].trainable, stored += nodes[i].stored;
  }
  for (int i = 0; i < n; i++) /* the head is the last stage */
    if (nodes[i].stage - 1 > nstages) nstages = nodes[i].stage - 1;
  printf("model: %s\n", model);
  if (cx) {
    cltrain_device_info d;
    if (cltrain_context_device(cx, &d) == CLTRAIN_OK) printf("device: %s (%s)\n", d.name, d.platform);
  }
  printf("input: %dx%dx%d per image\n\n", nodes[0].c, nodes[0].h, nodes[0].w);
  int width = 28; /* the name column: at least 28, as wide as the longest name (MobileNet's) */
  for (int i = 0; i < n; i++)
    if ((int)strlen(nodes[i].name) > width) width = (int)strlen(nodes[i].name);
  printf("%4s  %-*s %-15s %-14s %12s  %s\n", "#", width, "name", "op", "output", "params", "stage");
  char num[40], shape[48], stg[16];
  int nconv = 0, nbn = 0, nlinear = 0;
  for (int i = 0; i < n; i++) {
    const cltrain_node_info *nd = &nodes[i];
    nconv += !strcmp(nd->op, "conv");
    nbn += !strcmp(nd->op, "bn");
    nlinear += !strcmp(nd->op, "linear");
    snprintf(shape, sizeof shape, "%dx%dx%d", nd->c, nd->h, nd->w);
    if (nd->stage < 0) snprintf(stg, sizeof stg, "-");
    else stage_name(nstages, nd->stage, stg, sizeof stg);
    printf("%4d  %-*s %-15s %-14s %12s  %s\n", i, width, nd->name, nd->op, shape,
           thousands(nd->trainable, num, sizeof num), stg);
  }
  if (nstages > 0) printf("\nstages: stem, stage1..stage%d, head\n", nstages);
  else printf("\nstages: stem, head\n");
  for (int s = 0; s <= nstages + 1; s++) {
    int first = -1, last = -1, count = 0;
    size_t p = 0;
    for (int i = 1; i < n; i++)
      if (nodes[i].stage == s) {
        if (first < 0) first = i;
        last = i, count++, p += nodes[i].trainable;
      }
    stage_name(nstages, s, stg, sizeof stg);
    if (count == 0) {
      printf("  %-7s (empty)\n", stg);
      continue;
    }
    printf("  %-7s %3d nodes  %s .. %s  %s parameters, output %dx%dx%d\n", stg, count,
           nodes[first].name, nodes[last].name, thousands(p, num, sizeof num), nodes[last].c,
           nodes[last].h, nodes[last].w);
  }
  char stored_s[40];
  printf("\ntotals: %d nodes: %d conv, %d bn, %d linear; classes %d (node %s)\n", n - 1, nconv, nbn,
         nlinear, nodes[output].c, nodes[output].name);
  printf("parameters: %s trainable (as torchvision counts them); %s stored with BN running "
         "statistics\n",
         thousands(trainable, num, sizeof num), thousands(stored, stored_s, sizeof stored_s));
  free(nodes);
  cltrain_context_destroy(cx);
  return 0;
}
