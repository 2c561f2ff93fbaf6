/* dist.c: data-parallel training over MPI (dist.h). The only file that includes mpi.h; built
 * without CLTRAIN_HAVE_MPI it keeps the single-process behaviour and refuses a communicator. */
#include "dist.h"

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

cltrain_status dist_open(cltrain_context *cx, const void *comm, dist **out) {
  *out = NULL;
  if (!comm) return CLTRAIN_OK;
  TRY(init_mpi(cx));
  MPI_Comm c = comm == CLTRAIN_MPI_COMM_WORLD ? MPI_COMM_WORLD : *(const MPI_Comm *)comm;
  int size;
  MPI_TRY(cx, MPI_Comm_size(c, &size));
  if (size == 1) return CLTRAIN_OK;
  dist *d = calloc(1, sizeof *d);
  if (!d) return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  d->size = size, d->layout_low = -1;
  int err = MPI_Comm_dup(c, &d->comm);
  if (err != MPI_SUCCESS) {
    free(d);
    return mpi_fail(cx, err, "MPI_Comm_dup");
  }
  /* errors come back as codes (and so as statuses), instead of aborting the job */
  MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(d->comm, &d->rank);
  *out = d;
  return CLTRAIN_OK;
}

void cltrain_mpi_abort(const void *comm, int code) {
  if (!comm) return;
  MPI_Abort(comm == CLTRAIN_MPI_COMM_WORLD ? MPI_COMM_WORLD : *(const MPI_Comm *)comm, code);
}

void dist_close(dist *d) {
  if (!d) return;
  for (int i = 0; i < d->nb; i++)
    if (d->b[i].read) clReleaseEvent(d->b[i].read);
  MPI_Comm_free(&d->comm);
  free(d->b), free(d->closes), free(d->host);
  free(d);
}

int dist_rank(const dist *d) { return d ? d->rank : 0; }
int dist_size(const dist *d) { return d ? d->size : 1; }

cltrain_status dist_agree(dist *d, cltrain_context *cx, cltrain_status st) {
  if (!d) return st;
  int mine = st != CLTRAIN_OK ? d->rank : d->size, first;
  MPI_TRY(cx, MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, d->comm));
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
  MPI_TRY(cx, MPI_Bcast(&x, (int)sizeof x, MPI_BYTE, first, d->comm));
  return rt_fail(cx, (cltrain_status)x.st, "rank %d: %s", first, x.msg);
}

cltrain_status dist_bcast(dist *d, cltrain_context *cx, void *data, size_t bytes) {
  if (!d) return CLTRAIN_OK;
  for (size_t off = 0; off < bytes;) { /* counts are ints: a checkpoint may pass 2 GiB */
    size_t part = bytes - off < (1u << 30) ? bytes - off : (1u << 30);
    MPI_TRY(cx, MPI_Bcast((char *)data + off, (int)part, MPI_BYTE, 0, d->comm));
    off += part;
  }
  return CLTRAIN_OK;
}

cltrain_status dist_sum(dist *d, cltrain_context *cx, double *v, int n) {
  if (!d) return CLTRAIN_OK;
  MPI_TRY(cx, MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, d->comm));
  return CLTRAIN_OK;
}

/* MPI counts are ints: large arrays go in parts of 2^28 elements. */
static cltrain_status allreduce_parts(dist *d, cltrain_context *cx, void *v, size_t n, size_t elem,
                                      MPI_Datatype type, MPI_Op op) {
  for (size_t off = 0; off < n;) {
    size_t part = n - off < (1u << 28) ? n - off : (1u << 28);
    MPI_TRY(cx, MPI_Allreduce(MPI_IN_PLACE, (char *)v + off * elem, (int)part, type, op, d->comm));
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
  size_t total = 0;
  for (int t = 0; t < m->ntensors; t++) total += m->tensors[t].learnable ? 0 : m->tensors[t].count;
  if (total == 0) return CLTRAIN_OK;
  float *v = malloc(total * sizeof(float));
  if (!v) return rt_fail(m->cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  cltrain_status st = CLTRAIN_OK;
  size_t at = 0;
  for (int t = 0; t < m->ntensors && !st; t++) {
    const model_tensor *mt = &m->tensors[t];
    if (mt->learnable) continue;
    if (d->rank == 0) st = rt_read(m->cx, v + at, (buf){m->params, mt->off}, mt->count * sizeof(float));
    at += mt->count;
  }
  /* every rank must reach the broadcast, whatever its reads did */
  cltrain_status bst = dist_bcast(d, m->cx, v, total * sizeof(float));
  if (!st) st = bst;
  at = 0;
  for (int t = 0; t < m->ntensors && !st && d->rank != 0; t++) {
    const model_tensor *mt = &m->tensors[t];
    if (mt->learnable) continue;
    st = rt_write(m->cx, (buf){m->params, mt->off}, v + at, mt->count * sizeof(float));
    at += mt->count;
  }
  free(v);
  return st;
}

/* Buckets over the trainable parameter nodes, from the top down, each a contiguous range of
 * the block (nodes lay out their parameters in node order) of about BUCKET_FLOATS. */
static cltrain_status make_layout(dist *d, cltrain_model *m) {
  int low = model_lowest_trainable(m), n = m->g.n;
  free(d->b), free(d->closes);
  d->b = calloc((size_t)n, sizeof *d->b);
  d->closes = malloc((size_t)n * sizeof(int));
  if (!d->b || !d->closes) return rt_fail(m->cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  d->nb = 0;
  bucket *cur = NULL;
  for (int i = n - 1; i >= 0; i--) {
    d->closes[i] = -1;
    const graph_node *nd = &m->g.nodes[i];
    if (i < low || !nd->nparams || m->frozen[i]) continue;
    if (cur && (cur->count >= BUCKET_FLOATS || nd->param_off + nd->nparams != cur->off)) cur = NULL;
    if (!cur) cur = &d->b[d->nb++], cur->count = 0;
    else d->closes[cur->last] = -1;
    cur->off = nd->param_off, cur->count += nd->nparams, cur->last = i;
    d->closes[i] = (int)(cur - d->b);
  }
  d->stats.floats_per_step = 0;
  for (int k = 0; k < d->nb; k++) d->stats.floats_per_step += d->b[k].count;
  if (d->host_cap < m->g.nparams) {
    free(d->host);
    d->host = malloc(m->g.nparams * sizeof(float));
    if (!d->host) return rt_fail(m->cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
    d->host_cap = m->g.nparams;
  }
  d->layout_low = low;
  return CLTRAIN_OK;
}

/* Starts the reductions of the buckets whose read-back is complete (in bucket order: every rank
 * must start its non-blocking collectives in the same order) and tests the running ones. */
static cltrain_status progress(dist *d) {
  cltrain_context *cx = d->m->cx;
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
  cltrain_model *m = d->m;
  if (node > 0) {
    int k = d->closes[node];
    if (k >= 0) {
      bucket *b = &d->b[k];
      CL_CHECK(m->cx, clEnqueueReadBuffer(m->cx->queue, m->grads, CL_FALSE, b->off * sizeof(float),
                                          b->count * sizeof(float), d->host + b->off, 0, NULL, &b->read));
      CL_CHECK(m->cx, clFlush(m->cx->queue)); /* the device starts now, not at the next wait */
      d->nread++;
    }
    return progress(d);
  }
  if (d->nread != d->nb)
    return rt_fail(m->cx, CLTRAIN_ERR_INTERNAL, "gradient buckets: %d of %d read back", d->nread, d->nb);
  /* The device still runs the lowest layers: keep starting and testing until all are summed.
   * A short sleep between polls leaves the cores to the device's threads. */
  while (d->ndone < d->nb) {
    TRY(progress(d));
    if (d->ndone < d->nb) nanosleep(&(struct timespec){0, 100000}, NULL);
  }
  if (d->nb) d->stats.exposed_seconds += now_s() - d->t_device_done;
  float scale = 1.0f / (float)d->size;
  for (int k = 0; k < d->nb; k++) {
    float *g = d->host + d->b[k].off;
    for (size_t j = 0; j < d->b[k].count; j++) g[j] *= scale;
    TRY(rt_write_async(m->cx, (buf){m->grads, d->b[k].off}, g, d->b[k].count * sizeof(float)));
  }
  d->finished = 1;
  return CLTRAIN_OK;
}

cltrain_status dist_grads_begin(dist *d, cltrain_model *m) {
  if (!d) return CLTRAIN_OK;
  if (d->layout_low != model_lowest_trainable(m)) TRY(make_layout(d, m));
  d->m = m;
  d->nread = d->nstarted = d->ndone = d->finished = 0;
  m->grad_hook = grad_hook, m->grad_hook_user = d;
  return CLTRAIN_OK;
}

cltrain_status dist_grads_end(dist *d, cltrain_model *m, cltrain_status st) {
  if (!d) return st;
  m->grad_hook = NULL, m->grad_hook_user = NULL;
  if (!d->finished) {
    /* This rank's step failed part-way: join the remaining reductions with zeros. */
    clFinish(m->cx->queue);
    for (int k = 0; k < d->nb; k++)
      if (d->b[k].read) clReleaseEvent(d->b[k].read), d->b[k].read = NULL;
    for (int k = d->nstarted; k < d->nb; k++) {
      memset(d->host + d->b[k].off, 0, d->b[k].count * sizeof(float));
      MPI_Iallreduce(MPI_IN_PLACE, d->host + d->b[k].off, (int)d->b[k].count, MPI_FLOAT, MPI_SUM, d->comm,
                     &d->b[k].req);
    }
    for (int k = d->ndone; k < d->nb; k++) MPI_Wait(&d->b[k].req, MPI_STATUS_IGNORE);
    if (st == CLTRAIN_OK) st = rt_fail(m->cx, CLTRAIN_ERR_INTERNAL, "the gradient allreduce did not finish");
  } else {
    d->stats.steps++;
  }
  return dist_agree(d, m->cx, st);
}

void dist_get_stats(const dist *d, dist_stats *out) {
  memset(out, 0, sizeof *out);
  if (d) *out = d->stats;
}

#else /* built without MPI */

cltrain_status dist_open(cltrain_context *cx, const void *comm, dist **out) {
  *out = NULL;
  if (!comm) return CLTRAIN_OK;
  return rt_fail(cx, CLTRAIN_ERR_UNSUPPORTED,
                 "distributed training needs cltrain built with MPI (CMake -DCLTRAIN_MPI=ON, libopenmpi-dev)");
}
void dist_close(dist *d) { (void)d; }
int dist_rank(const dist *d) { return 0; }
int dist_size(const dist *d) { return 1; }
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
