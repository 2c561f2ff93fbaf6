/* cmd_init.c: `cltrain init`, writes a freshly initialised torchvision model (ResNet-18/34,
 * MobileNetV3-small, EfficientNet-B0) as ONNX. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_init(int argc, char **argv) {
  const char *arch = "resnet18", *classes = NULL, *out = NULL, *seed = "0";
  int bad = 0;
  for (int i = 1; i < argc && !bad; i++) {
    if (cli_flag(argc, argv, &i, "--help", NULL, &bad)) {
      printf("usage: cltrain init [--arch ARCH] --classes N --out M.onnx [--seed S]\n\n"
             "Writes a model with torchvision's architecture and initialisation and an N-class\n"
             "classifier, as an ONNX file that cv::dnn and cltrain load: a model to train from\n"
             "scratch. ARCH (default resnet18):\n"
             "  resnet18, resnet34    convs kaiming-normal fan_out, BN 1/0, fc uniform +-1/sqrt(512)\n"
             "  mobilenet_v3_small    convs kaiming-normal fan_out (zero bias), BN 1/0,\n"
             "                        Linears normal(0, 0.01) with zero bias\n"
             "  efficientnet_b0       convs kaiming-normal fan_out (zero bias), BN 1/0,\n"
             "                        Linear uniform +-1/sqrt(N) with zero bias\n"
             "The same seed (default 0) always gives the same file.\n");
      return 0;
    }
    if (cli_flag(argc, argv, &i, "--arch", &arch, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--classes", &classes, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--out", &out, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--seed", &seed, &bad)) continue;
    if (bad) break;
    fprintf(stderr, "cltrain init: unknown option '%s'\n", argv[i]);
    return 2;
  }
  if (bad) return 2;
  if (!classes || !out) {
    fprintf(stderr, "cltrain init: --classes N and --out M.onnx are required\n");
    return 2;
  }
  long long n;
  unsigned long long s;
  if (!cli_int("init", "--classes", classes, 1, 1000000, &n) || !cli_u64("init", "--seed", seed, &s)) return 2;
  if (cli_parse_only) return 0;
  cltrain_status st = cltrain_init_onnx(arch, (int)n, (uint64_t)s, out);
  if (st != CLTRAIN_OK) return cli_fail(NULL, st);
  printf("wrote %s: %s, %lld classes, seed %llu\n", out, arch, n, s);
  return 0;
}
