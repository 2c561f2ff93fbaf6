/* dist.c: data-parallel training over MPI (dist.h). The only file that includes mpi.h; built
 * without CLTRAIN_HAVE_MPI it keeps the single-process behaviour and refuses a communicator. */
#include "train/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opencv2/cltrain.h"

#ifdef CLTRAIN_HAVE_MPI
#include <mpi.h>

/* Gradients are reduced in buckets of about this many floats (4 MiB; DDP's are 25 MiB, but a
 * bucket must be small next to the backward pass for the overlap to hide anything). */
enum { BUCKET_FLOATS = 1 << 20 };

/* A contiguous range of the gradient block, closed by the backward of node `last` (the lowest
 * node in it: backward runs from the top down). */
typedef struct bucket {
  size_t off, count; /* floats, within the gradient block */
  int last;
  cl_event read;     /* its non-blocking read-back, NULL once it completed */
  MPI_Request req;
  double t_start;
} bucket;

struct dist {
  MPI_Comm comm; /* our duplicate of the caller's: our collectives never mix with theirs */
  int rank, size;
  double timeout_s;  /* the longest any collective may wait for the other ranks */
  int epoch;         /* where the run is, for a timeout's message (dist_set_step) */
  long long step;
  int broken;        /* a collective timed out: it is still pending, so no other may start */
  char broken_msg[512];
  cltrain_model *m; /* the model of the step in progress */
  bucket *b;
  int nb, layout_low; /* layout_low: the lowest trainable node the layout was made for */
  int *closes;        /* per node: the bucket its backward closes, or -1 */
  float *host;        /* the gradient block's size: buckets come back here, at their offset */
  size_t host_cap;
  int nread, nstarted, ndone, finished; /* this step's buckets: read enqueued, reducing, reduced */
  double t_device_done;
  dist_stats stats;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static cltrain_status mpi_fail(cltrain_context *cx, int err, const char *call) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(err, text, &len);
  return rt_fail(cx, CLTRAIN_ERR_IO, "%s failed: %.*s", call, len, text);
}
#define MPI_TRY(cx, call)                              \
  do {                                                 \
    int mpi_err_ = (call);                             \
    if (mpi_err_ != MPI_SUCCESS) return mpi_fail((cx), mpi_err_, #call); \
  } while (0)

/* The ranks a timed-out collective may still wait for. MPI does not say which ranks have not
 * reached a collective: with 2 ranks it can only be the other one. */
static void waited_ranks(const dist *d, char *out, size_t cap) {
  if (d->size == 2) snprintf(out, cap, "rank %d", 1 - d->rank);
  else snprintf(out, cap, "one or more of the other %d ranks (MPI does not say which)", d->size - 1);
}

/* A collective that did not end within the timeout: the message names it, this run's place and
 * the ranks it waits for. The request stays pending (a collective cannot be cancelled), so the
 * communicator is unusable: every later call fails with the same message, and the caller must
 * end the job (cltrain_mpi_abort). */
static cltrain_status timed_out(dist *d, cltrain_context *cx, const char *what) {
  char who[128];
  waited_ranks(d, who, sizeof who);
  char where[64] = "before training";
  if (d->step > 0 || d->epoch > 0) snprintf(where, sizeof where, "epoch %d, after step %lld", d->epoch + 1, d->step);
  snprintf(d->broken_msg, sizeof d->broken_msg,
           "rank %d: %s did not end within %g s (%s): still waiting for %s, which stopped or hangs; "
           "the job must be aborted", d->rank, what, d->timeout_s, where, who);
  d->broken = 1;
  return rt_fail(cx, CLTRAIN_ERR_TIMEOUT, "%s", d->broken_msg);
}

/* Waits for a non-blocking collective, at most the timeout. Polls with short sleeps (from 10 us
 * up to 1 ms) rather than MPI_Wait, which cannot time out, and leaves the cores to the device. */
static cltrain_status wait_req(dist *d, cltrain_context *cx, MPI_Request *req, const char *what) {
  double deadline = now_s() + d->timeout_s;
  long sleep_ns = 10000;
  for (;;) {
    int flag = 0;
    MPI_TRY(cx, MPI_Test(req, &flag, MPI_STATUS_IGNORE));
    if (flag) return CLTRAIN_OK;
    if (now_s() > deadline) return timed_out(d, cx, what);
    nanosleep(&(struct timespec){0, sleep_ns}, NULL);
    sleep_ns = sleep_ns < 500000 ? sleep_ns * 2 : 1000000;
  }
}

/* A broken communicator refuses every collective with the message of the one that timed out. */
#define NOT_BROKEN(d, cx) \
  do {                    \
    if ((d)->broken) return rt_fail((cx), CLTRAIN_ERR_TIMEOUT, "%s", (d)->broken_msg); \
  } while (0)

static void finalize_at_exit(void) {
  int done = 0;
  MPI_Finalized(&done);
  if (!done) MPI_Finalize();
}

static cltrain_status init_mpi(cltrain_context *cx) {
  int inited = 0;
  MPI_Initialized(&inited);
  if (inited) return CLTRAIN_OK;
  int provided;
  /* only the calling thread talks to MPI (the loader's threads never do) */
  MPI_TRY(cx, MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided));
  atexit(finalize_at_exit);
  return CLTRAIN_OK;
}

cltrain_status cltrain_mpi_ranks(const void *comm, int *rank, int *size, int *local_rank) {
  if (!comm || !rank || !size || !local_rank) return rt_fail(NULL, CLTRAIN_ERR_ARG, "cltrain_mpi_ranks: NULL argument");
  TRY(init_mpi(NULL));
  MPI_Comm c = comm == CLTRAIN_MPI_COMM_WORLD ? MPI_COMM_WORLD : *(const MPI_Comm *)comm;
  MPI_TRY(NULL, MPI_Comm_rank(c, rank));
  MPI_TRY(NULL, MPI_Comm_size(c, size));
  const char *env = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  if (env && comm == CLTRAIN_MPI_COMM_WORLD) {
    *local_rank = atoi(env);
    return CLTRAIN_OK;
  }
  MPI_Comm node;
  MPI_TRY(NULL, MPI_Comm_split_type(c, MPI_COMM_TYPE_SHARED, *rank, MPI_INFO_NULL, &node));
  MPI_Comm_rank(node, local_rank);
  MPI_Comm_free(&node);
  return CLTRAIN_OK;
}

cltrain_status dist_open(cltrain_context *cx, const void *comm, double timeout_s, dist **out) {
  *out = NULL;
  if (!comm) return CLTRAIN_OK;
  TRY(init_mpi(cx));
  MPI_Comm c = comm == CLTRAIN_MPI_COMM_WORLD ? MPI_COMM_WORLD : *(const MPI_Comm *)comm;
  int size;
  MPI_TRY(cx, MPI_Comm_size(c, &size));
  if (size == 1) return CLTRAIN_OK;
  dist *d = calloc(1, sizeof *d);
  if (!d) return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  d->size = size, d->layout_low = -1, d->timeout_s = timeout_s;
  MPI_Comm_rank(c, &d->rank);
  /* the duplicate is the first collective: a rank that never starts times out here */
  MPI_Request req;
  int err = MPI_Comm_idup(c, &d->comm, &req);
  cltrain_status st = err != MPI_SUCCESS ? mpi_fail(cx, err, "MPI_Comm_idup") : wait_req(d, cx, &req, "MPI_Comm_idup (the start)");
  if (st) {
    if (!d->broken) free(d); /* a pending duplicate still writes into d */
    return st;
  }
  /* errors come back as codes (and so as statuses), instead of aborting the job */
  MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
  *out = d;
  return CLTRAIN_OK;
}

void cltrain_mpi_abort(const void *comm, int code) {
  if (!comm) return;
  MPI_Abort(comm == CLTRAIN_MPI_COMM_WORLD ? MPI_COMM_WORLD : *(const MPI_Comm *)comm, code);
}

void dist_close(dist *d) {
  if (!d) return;
  if (d->broken) return; /* a pending collective still uses the communicator and buffers */
  for (int i = 0; i < d->nb; i++)
    if (d->b[i].read) clReleaseEvent(d->b[i].read);
  MPI_Comm_free(&d->comm);
  free(d->b), free(d->closes), free(d->host);
  free(d);
}

int dist_rank(const dist *d) { return d ? d->rank : 0; }
int dist_size(const dist *d) { return d ? d->size : 1; }

void dist_set_step(dist *d, int epoch, long long step) {
  if (d) d->epoch = epoch, d->step = step;
}

/* Blocking collectives, each with the timeout. */
static cltrain_status allreduce(dist *d, cltrain_context *cx, void *v, int n, MPI_Datatype type, MPI_Op op,
                                const char *what) {
  NOT_BROKEN(d, cx);
  MPI_Request req;
  MPI_TRY(cx, MPI_Iallreduce(MPI_IN_PLACE, v, n, type, op, d->comm, &req));
  return wait_req(d, cx, &req, what);
}

static cltrain_status bcast(dist *d, cltrain_context *cx, void *v, int bytes, int root, const char *what) {
  NOT_BROKEN(d, cx);
  MPI_Request req;
  MPI_TRY(cx, MPI_Ibcast(v, bytes, MPI_BYTE, root, d->comm, &req));
  return wait_req(d, cx, &req, what);
}

cltrain_status dist_agree(dist *d, cltrain_context *cx, cltrain_status st) {
  if (!d) return st;
  if (d->broken) return st ? st : rt_fail(cx, CLTRAIN_ERR_TIMEOUT, "%s", d->broken_msg);
  int first = st != CLTRAIN_OK ? d->rank : d->size;
  /* a failure of this rank's own keeps its message if the agreement itself times out */
  cltrain_status ast = allreduce(d, cx, &first, 1, MPI_INT, MPI_MIN, "the ranks' status agreement (MPI_Iallreduce)");
  if (ast) return ast;
  if (first == d->size) return CLTRAIN_OK;
  struct {
    int st;
    char msg[2048];
  } x;
  memset(&x, 0, sizeof x);
  if (d->rank == first) {
    x.st = (int)st;
    snprintf(x.msg, sizeof x.msg, "%s", cltrain_last_error(cx));
  }
  TRY(bcast(d, cx, &x, (int)sizeof x, first, "the failing rank's message (MPI_Ibcast)"));
  return rt_fail(cx, (cltrain_status)x.st, "rank %d: %s", first, x.msg);
}

cltrain_status dist_bcast(dist *d, cltrain_context *cx, void *data, size_t bytes) {
  if (!d) return CLTRAIN_OK;
  for (size_t off = 0; off < bytes;) { /* counts are ints: a checkpoint may pass 2 GiB */
    size_t part = bytes - off < (1u << 30) ? bytes - off : (1u << 30);
    TRY(bcast(d, cx, (char *)data + off, (int)part, 0, "a broadcast from rank 0 (MPI_Ibcast)"));
    off += part;
  }
  return CLTRAIN_OK;
}

cltrain_status dist_sum(dist *d, cltrain_context *cx, double *v, int n) {
  if (!d) return CLTRAIN_OK;
  return allreduce(d, cx, v, n, MPI_DOUBLE, MPI_SUM, "the phase's loss and accuracy sums (MPI_Iallreduce)");
}

/* MPI counts are ints: large arrays go in parts of 2^28 elements. */
static cltrain_status allreduce_parts(dist *d, cltrain_context *cx, void *v, size_t n, size_t elem,
                                      MPI_Datatype type, MPI_Op op) {
  for (size_t off = 0; off < n;) {
    size_t part = n - off < (1u << 28) ? n - off : (1u << 28);
    TRY(allreduce(d, cx, (char *)v + off * elem, (int)part, type, op, "the feature cache's exchange (MPI_Iallreduce)"));
    off += part;
  }
  return CLTRAIN_OK;
}

cltrain_status dist_min_int(dist *d, cltrain_context *cx, int *v, size_t n) {
  return d ? allreduce_parts(d, cx, v, n, sizeof(int), MPI_INT, MPI_MIN) : CLTRAIN_OK;
}

cltrain_status dist_sum_float(dist *d, cltrain_context *cx, float *v, size_t n) {
  return d ? allreduce_parts(d, cx, v, n, sizeof(float), MPI_FLOAT, MPI_SUM) : CLTRAIN_OK;
}

cltrain_status dist_bcast_buffers(dist *d, cltrain_model *m) {
  if (!d) return CLTRAIN_OK;
  cltrain_context *cx = model_context(m);
  size_t total = 0;
  int ntensors = model_tensor_count(m);
  for (int t = 0; t < ntensors; t++) total += model_tensor_at(m, t)->learnable ? 0 : model_tensor_at(m, t)->count;
  if (total == 0) return CLTRAIN_OK;
  float *v = malloc(total * sizeof(float));
  if (!v) return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  cltrain_status st = CLTRAIN_OK;
  size_t at = 0;
  for (int t = 0; t < ntensors && !st; t++) {
    const model_tensor *mt = model_tensor_at(m, t);
    if (mt->learnable) continue;
    if (d->rank == 0) st = rt_read(cx, v + at, buf_at(model_params(m), mt->off), mt->count * sizeof(float));
    at += mt->count;
  }
  /* every rank must reach the broadcast, whatever its reads did */
  cltrain_status bst = dist_bcast(d, cx, v, total * sizeof(float));
  if (!st) st = bst;
  at = 0;
  for (int t = 0; t < ntensors && !st && d->rank != 0; t++) {
    const model_tensor *mt = model_tensor_at(m, t);
    if (mt->learnable) continue;
    st = rt_write(cx, buf_at(model_params(m), mt->off), v + at, mt->count * sizeof(float));
    at += mt->count;
  }
  free(v);
  return st;
}

/* Buckets over the trainable parameter nodes, from the top down, each a contiguous range of
 * the block (nodes lay out their parameters in node order) of about BUCKET_FLOATS. */
static cltrain_status make_layout(dist *d, cltrain_model *m) {
  cltrain_context *cx = model_context(m);
  const graph_desc *g = model_graph(m);
  int low = model_lowest_trainable(m), n = g->n;
  free(d->b), free(d->closes);
  d->b = calloc((size_t)n, sizeof *d->b);
  d->closes = malloc((size_t)n * sizeof(int));
  if (!d->b || !d->closes) return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  d->nb = 0;
  bucket *cur = NULL;
  for (int i = n - 1; i >= 0; i--) {
    d->closes[i] = -1;
    const graph_node *nd = &g->nodes[i];
    if (i < low || !nd->nparams || model_is_frozen(m, i)) continue;
    if (cur && (cur->count >= BUCKET_FLOATS || nd->param_off + nd->nparams != cur->off)) cur = NULL;
    if (!cur) cur = &d->b[d->nb++], cur->count = 0;
    else d->closes[cur->last] = -1;
    cur->off = nd->param_off, cur->count += nd->nparams, cur->last = i;
    d->closes[i] = (int)(cur - d->b);
  }
  d->stats.floats_per_step = 0;
  for (int k = 0; k < d->nb; k++) d->stats.floats_per_step += d->b[k].count;
  if (d->host_cap < g->nparams) {
    free(d->host);
    d->host = malloc(g->nparams * sizeof(float));
    if (!d->host) return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
    d->host_cap = g->nparams;
  }
  d->layout_low = low;
  return CLTRAIN_OK;
}

/* Starts the reductions of the buckets whose read-back is complete (in bucket order: every rank
 * must start its non-blocking collectives in the same order) and tests the running ones. */
static cltrain_status progress(dist *d) {
  cltrain_context *cx = model_context(d->m);
  while (d->nstarted < d->nread) {
    bucket *b = &d->b[d->nstarted];
    cl_int ev;
    CL_CHECK(cx, clGetEventInfo(b->read, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof ev, &ev, NULL));
    if (ev < 0) return rt_fail(cx, CLTRAIN_ERR_OPENCL, "reading gradients back failed: %s", rt_cl_error_name(ev));
    if (ev != CL_COMPLETE) break;
    clReleaseEvent(b->read), b->read = NULL;
    b->t_start = now_s();
    if (d->nstarted == d->nb - 1) d->t_device_done = b->t_start;
    MPI_TRY(cx, MPI_Iallreduce(MPI_IN_PLACE, d->host + b->off, (int)b->count, MPI_FLOAT, MPI_SUM, d->comm,
                               &b->req));
    d->nstarted++;
  }
  while (d->ndone < d->nstarted) {
    bucket *b = &d->b[d->ndone];
    int flag = 0;
    MPI_TRY(cx, MPI_Test(&b->req, &flag, MPI_STATUS_IGNORE));
    if (!flag) break;
    d->stats.reduce_seconds += now_s() - b->t_start;
    d->ndone++;
  }
  return CLTRAIN_OK;
}

/* The model's backward hook: node > 0 after that node's backward is enqueued, 0 at the end. */
static cltrain_status grad_hook(void *user, int node) {
  dist *d = user;
  cltrain_context *cx = model_context(d->m);
  if (node > 0) {
    int k = d->closes[node];
    if (k >= 0) {
      bucket *b = &d->b[k];
      CL_CHECK(cx, clEnqueueReadBuffer(cx->queue, model_grads(d->m).mem, CL_FALSE, b->off * sizeof(float),
                                       b->count * sizeof(float), d->host + b->off, 0, NULL, &b->read));
      CL_CHECK(cx, clFlush(cx->queue)); /* the device starts now, not at the next wait */
      d->nread++;
    }
    return progress(d);
  }
  if (d->nread != d->nb)
    return rt_fail(cx, CLTRAIN_ERR_INTERNAL, "gradient buckets: %d of %d read back", d->nread, d->nb);
  /* The device still runs the lowest layers: keep starting and testing until all are summed.
   * A short sleep between polls leaves the cores to the device's threads. */
  double deadline = now_s() + d->timeout_s;
  while (d->ndone < d->nb) {
    TRY(progress(d));
    if (d->ndone < d->nb && now_s() > deadline) return timed_out(d, cx, "the gradient allreduce (MPI_Iallreduce)");
    if (d->ndone < d->nb) nanosleep(&(struct timespec){0, 100000}, NULL);
  }
  if (d->nb) d->stats.exposed_seconds += now_s() - d->t_device_done;
  float scale = 1.0f / (float)d->size;
  for (int k = 0; k < d->nb; k++) {
    float *g = d->host + d->b[k].off;
    for (size_t j = 0; j < d->b[k].count; j++) g[j] *= scale;
    TRY(rt_write_async(cx, buf_at(model_grads(d->m), d->b[k].off), g, d->b[k].count * sizeof(float)));
  }
  d->finished = 1;
  return CLTRAIN_OK;
}

cltrain_status dist_grads_begin(dist *d, cltrain_model *m) {
  if (!d) return CLTRAIN_OK;
  NOT_BROKEN(d, model_context(m));
  if (d->layout_low != model_lowest_trainable(m)) TRY(make_layout(d, m));
  d->m = m;
  d->nread = d->nstarted = d->ndone = d->finished = 0;
  model_set_grad_hook(m, grad_hook, d);
  return CLTRAIN_OK;
}

cltrain_status dist_grads_end(dist *d, cltrain_model *m, cltrain_status st) {
  if (!d) return st;
  cltrain_context *cx = model_context(m);
  model_set_grad_hook(m, NULL, NULL);
  if (d->broken) return st;
  if (!d->finished) {
    /* This rank's step failed part-way: join the remaining reductions with zeros. */
    clFinish(cx->queue);
    for (int k = 0; k < d->nb; k++)
      if (d->b[k].read) clReleaseEvent(d->b[k].read), d->b[k].read = NULL;
    for (int k = d->nstarted; k < d->nb; k++) {
      memset(d->host + d->b[k].off, 0, d->b[k].count * sizeof(float));
      MPI_Iallreduce(MPI_IN_PLACE, d->host + d->b[k].off, (int)d->b[k].count, MPI_FLOAT, MPI_SUM, d->comm,
                     &d->b[k].req);
    }
    for (int k = d->ndone; k < d->nb; k++)
      TRY(wait_req(d, cx, &d->b[k].req, "the gradient allreduce (MPI_Iallreduce)"));
    if (st == CLTRAIN_OK) st = rt_fail(cx, CLTRAIN_ERR_INTERNAL, "the gradient allreduce did not finish");
  } else {
    d->stats.steps++;
  }
  return dist_agree(d, cx, st);
}

void dist_get_stats(const dist *d, dist_stats *out) {
  memset(out, 0, sizeof *out);
  if (d) *out = d->stats;
}

#else /* built without MPI */

cltrain_status dist_open(cltrain_context *cx, const void *comm, double timeout_s, dist **out) {
  (void)timeout_s;
  *out = NULL;
  if (!comm) return CLTRAIN_OK;
  return rt_fail(cx, CLTRAIN_ERR_UNSUPPORTED,
                 "distributed training needs cltrain built with MPI (CMake -DCLTRAIN_MPI=ON, libopenmpi-dev)");
}
void dist_close(dist *d) { (void)d; }
int dist_rank(const dist *d) { return 0; }
int dist_size(const dist *d) { return 1; }
void dist_set_step(dist *d, int epoch, long long step) { (void)d, (void)epoch, (void)step; }
cltrain_status dist_agree(dist *d, cltrain_context *cx, cltrain_status st) { return st; }
cltrain_status dist_bcast(dist *d, cltrain_context *cx, void *data, size_t bytes) { return CLTRAIN_OK; }
cltrain_status dist_sum(dist *d, cltrain_context *cx, double *v, int n) { return CLTRAIN_OK; }
cltrain_status dist_bcast_buffers(dist *d, cltrain_model *m) { return CLTRAIN_OK; }
cltrain_status dist_min_int(dist *d, cltrain_context *cx, int *v, size_t n) { return CLTRAIN_OK; }
cltrain_status dist_sum_float(dist *d, cltrain_context *cx, float *v, size_t n) { return CLTRAIN_OK; }
cltrain_status dist_grads_begin(dist *d, cltrain_model *m) { return CLTRAIN_OK; }
cltrain_status dist_grads_end(dist *d, cltrain_model *m, cltrain_status st) { return st; }
void dist_get_stats(const dist *d, dist_stats *out) { memset(out, 0, sizeof *out); }
void cltrain_mpi_abort(const void *comm, int code) { (void)comm, (void)code; }
cltrain_status cltrain_mpi_ranks(const void *comm, int *rank, int *size, int *local_rank) {
  return rt_fail(NULL, CLTRAIN_ERR_UNSUPPORTED, "cltrain was built without MPI (CMake -DCLTRAIN_MPI=ON, libopenmpi-dev)");
}

#endif
