/* wholemodel.h: whole-model checks against PyTorch's references (test/ref/ref_mobilenet.py's
 * modes and trajectory_case), shared by the family tests (test_mobilenet, test_vgg): logits,
 * loss and gradients against float64, SGD trajectories within 3x of PyTorch-float32's own error,
 * and exports that cv::dnn must match. The reference batches hold BATCH images; models have
 * CLASSES outputs. */
#ifndef CLTRAIN_WHOLEMODEL_H
#define CLTRAIN_WHOLEMODEL_H

#include <stddef.h>

#include "opencv2/cltrain.h"

enum { CLASSES = 4, BATCH = 2, MAX_TENSORS = 1024 };

/* Loads `file` from $CLTRAIN_REF_DIR (its path in path, cap bytes) and checks it has CLASSES
 * classes, nparams learnable parameters (torchvision's count) and a size x size input; NULL if it
 * could not load. */
cltrain_model *load_checked(cltrain_context *cx, const char *file, size_t nparams, int size, char *path, size_t cap);

/* Against <arch>_<mode>.ref, in eval (train 0) or train mode: logits (rel L2 <= 1e-5 against
 * float64), loss, and each of the ntrainable gradients (eval: <= 1e-4 each; train: within 3x of
 * PyTorch-float32's median and worst). near_kinks (eval) is for a batch on which float32 flips a
 * ReLU or max-pool decision against float64: a tensor PyTorch-float32 itself misses 1e-4 on is
 * held to 3x its error, and the median and worst to 3x PyTorch-float32's. */
void check_mode(cltrain_model *m, const char *arch, const char *mode, int train, int near_kinks, int ntrainable);

/* Copies every tensor of m into start[] (malloc'd; returns how many), then runs `steps` SGD steps
 * (lr 0.01, momentum 0.9) in train mode on batches of n images of m's input size; `next` 1 takes
 * the next batch of x and labels each step, 0 the same one. */
int sgd_steps(cltrain_model *m, float **start, int steps, const float *x, const int *labels, int n, int next);

/* `steps` SGD steps (lr 0.01, momentum 0.9) in train mode, nothing frozen, on the batches of the
 * reference `name`: every tensor's change (running statistics included) against PyTorch float64,
 * within 3x of PyTorch-float32's error. */
void check_trajectory(cltrain_model *m, const char *name, int steps);

/* Learnable tensors of m: all but BN running statistics. */
int count_learnable(const cltrain_model *m);

/* Exports m to a temporary file (cltrain_model_export_onnx verifies cv::dnn against cltrain) and
 * prints cv::dnn's error; `what` names the export in the output. */
void export_checked(cltrain_model *m, const char *what);

#endif
