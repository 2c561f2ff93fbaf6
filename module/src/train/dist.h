/* dist.h: data-parallel training over MPI ranks (dist.c, the only file that includes mpi.h):
 * the communicator, collectives that turn one rank's failure into every rank's, the bucketed
 * gradient allreduce that overlaps the backward pass, and the BN running-statistics broadcast.
 * Built without MPI (CMake CLTRAIN_MPI=OFF) every call is the single-process one. */
#ifndef CLTRAIN_DIST_H
#define CLTRAIN_DIST_H

#include <stddef.h>

#include "model/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dist dist; /* NULL means one process: every call below then does nothing */

/* Opens `comm` (a pointer to an MPI_Comm, or CLTRAIN_MPI_COMM_WORLD), initialising MPI when
 * the caller has not (and finalising it at exit). NULL comm, or a communicator of one rank:
 * *out is NULL. Built without MPI, a non-NULL comm is CLTRAIN_ERR_UNSUPPORTED.
 * Every collective below waits at most timeout_s for the other ranks; past it, the call fails
 * with CLTRAIN_ERR_TIMEOUT naming the collective, the step (dist_set_step) and the ranks it
 * waits for, and so does every later one: the collective is still pending (MPI cannot cancel
 * it), so the caller must end the job (cltrain_mpi_abort). */
cltrain_status dist_open(cltrain_context *cx, const void *comm, double timeout_s, dist **out);
void dist_close(dist *d); /* accepts NULL; never finalises MPI */

int dist_rank(const dist *d); /* 0 for NULL */
int dist_size(const dist *d); /* 1 for NULL */
void dist_set_step(dist *d, int epoch, long long step); /* where the run is: 0-based epoch, steps done */

/* Every rank passes its status of the same point of the run; all get the first failing rank's
 * (the lowest), with cx's message "rank R: ..." taken from that rank. The one collective that
 * a failing rank must still reach, so no rank waits forever for another. */
cltrain_status dist_agree(dist *d, cltrain_context *cx, cltrain_status st);

/* Rank 0's `bytes` into everyone's data. */
cltrain_status dist_bcast(dist *d, cltrain_context *cx, void *data, size_t bytes);

/* In-place sums over the ranks of n doubles. */
cltrain_status dist_sum(dist *d, cltrain_context *cx, double *v, int n);

/* In-place over the ranks: the minimum of n ints, the sum of n floats. */
cltrain_status dist_min_int(dist *d, cltrain_context *cx, int *v, size_t n);
cltrain_status dist_sum_float(dist *d, cltrain_context *cx, float *v, size_t n);

/* Rank 0's BN running statistics (the model's non-learnable tensors) into every rank's model,
 * as DDP's broadcast_buffers does before each forward. */
cltrain_status dist_bcast_buffers(dist *d, cltrain_model *m);

/* The gradient allreduce of one training step. dist_grads_begin installs m's backward hook:
 * as each bucket of trainable gradients (about 4 MiB, later layers first) is done on the
 * device, a non-blocking read brings it back and MPI_Iallreduce sums it while the device runs
 * the earlier layers; once the backward is enqueued, the hook waits for every bucket, divides
 * by the rank count and writes the means back in place of the gradients. dist_grads_end must
 * follow on every rank, with the step's status: a rank whose step failed before its buckets
 * were reduced joins the remaining ones with zeros so no collective is left unmatched, then
 * the status is agreed (dist_agree). */
cltrain_status dist_grads_begin(dist *d, cltrain_model *m);
cltrain_status dist_grads_end(dist *d, cltrain_model *m, cltrain_status st);

/* What the gradient allreduce cost, since open: the seconds from starting each bucket's
 * reduction to its end (summed over buckets), the part of it the host waited for after the
 * device had finished the backward (what the overlap did not hide), steps, floats per step. */
typedef struct dist_stats {
  double reduce_seconds, exposed_seconds;
  long long steps;
  size_t floats_per_step;
} dist_stats;
void dist_get_stats(const dist *d, dist_stats *out);

#ifdef __cplusplus
}
#endif
#endif
