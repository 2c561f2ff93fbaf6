/* loss.h: softmax cross-entropy over class logits (torch.nn.functional.cross_entropy with mean
 * reduction and optional label smoothing), forward and backward, and its C reference. */
#ifndef CLTRAIN_OPS_LOSS_H
#define CLTRAIN_OPS_LOSS_H

#include "ops/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* logits are (n,k); label_smoothing is torch's eps in [0,1]: target = (1-eps) onehot + eps/k. */
typedef struct cross_entropy_shape {
  int n, k;
  float label_smoothing;
} cross_entropy_shape;

/* CLTRAIN_OK, or CLTRAIN_ERR_ARG naming the bad field (NULL, non-positive sizes, smoothing out
 * of [0,1], sizes beyond int range). */
cltrain_status cross_entropy_check_shape(cltrain_context *cx, const cross_entropy_shape *s);

/* Checks host labels (N) before they are uploaded: CLTRAIN_ERR_ARG naming the first label
 * outside [0,K). The kernels never index with a bad label either: they make that row's loss
 * and gradient NaN, so a bad label that reached the device shows as a NaN loss. */
cltrain_status cross_entropy_check_labels(cltrain_context *cx, const int *labels,
                                          const cross_entropy_shape *s);

/* loss[0] = mean over rows of -sum_j target_j log softmax(logits row)_j.
 * loss is (1), argmax is (N) int32 (each row's first maximum, for accuracy) or mem NULL,
 * logits is (N,K), labels is (N) int32 (offsets of int buffers count ints). */
cltrain_status cross_entropy_forward(cltrain_context *cx, buf loss, buf argmax, buf logits,
                                     buf labels, const cross_entropy_shape *s);

/* dlogits = dloss * (softmax(logits) - target) / N: the gradient of dloss * loss (pass 1 for
 * the loss itself). dlogits is (N,K), overwritten; logits is (N,K), labels is (N) int32. */
cltrain_status cross_entropy_backward(cltrain_context *cx, buf dlogits, buf logits, buf labels,
                                      float dloss, const cross_entropy_shape *s);

/* The same on host arrays, in double. argmax may be NULL; a bad label gives a NaN loss and NaN
 * gradient row, as on the device. */
cltrain_status cross_entropy_forward_ref(float *loss, int *argmax, const float *logits,
                                         const int *labels, const cross_entropy_shape *s);
cltrain_status cross_entropy_backward_ref(float *dlogits, const float *logits, const int *labels,
                                          float dloss, const cross_entropy_shape *s);

#ifdef __cplusplus
}
#endif
#endif
