/* api_comm.c: the C API with a caller's communicator. Launched by mpirun with 3 ranks, it
 * splits MPI_COMM_WORLD into {0} and {1, 2} and trains each group with
 * cltrain_train_options.mpi_comm = &its_comm, writing OUT_PREFIX<group size>.onnx from the
 * group's rank 0; api_comm.sh compares them with the CLI's 1-rank and 2-rank runs.
 *   mpirun -np 3 dist_api_comm MODEL.onnx DATA_DIR OUT_PREFIX */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "opencv2/cltrain.h"

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: mpirun -np 3 dist_api_comm MODEL.onnx DATA_DIR OUT_PREFIX\n");
    return 2;
  }
  /* The caller initialises MPI (cltrain.h: MPI_THREAD_FUNNELED at least) and finalises it. */
  int provided, rank, size;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size != 3) {
    if (rank == 0) fprintf(stderr, "dist_api_comm: wants 3 ranks, got %d\n", size);
    MPI_Finalize();
    return 2;
  }
  MPI_Comm group;
  int color = rank == 0 ? 0 : 1;
  MPI_Comm_split(MPI_COMM_WORLD, color, rank, &group);
  int grank, gsize;
  MPI_Comm_rank(group, &grank);
  MPI_Comm_size(group, &gsize);

  char out[4096];
  snprintf(out, sizeof out, "%s%d.onnx", argv[3], gsize);
  /* the same run as api_comm.sh's CLI lines (BN in train mode in layer4, augmentation) */
  cltrain_train_options o = cltrain_train_defaults();
  o.model_path = argv[1], o.data_dir = argv[2], o.out_path = out;
  o.freeze = "upto:layer3", o.augment = 1, o.epochs = 2, o.batch_size = 2, o.sgd.lr = 0.01;
  o.image_size = 32, o.workers = 1, o.keep_best = 0, o.seed = 3;
  o.mpi_comm = &group;

  cltrain_context *cx = NULL;
  cltrain_status st = cltrain_context_create(NULL, &cx);
  cltrain_train_result res = cltrain_train_result_init();
  if (st == CLTRAIN_OK) st = cltrain_train_run(cx, &o, &res);
  int rc = 0;
  if (st != CLTRAIN_OK) {
    fprintf(stderr, "world rank %d (group %d, rank %d of %d): %s: %s\n", rank, color, grank, gsize,
            cltrain_status_str(st), cltrain_last_error(cx));
    rc = 1;
  } else if (res.ranks != gsize || res.steps <= 0) {
    fprintf(stderr, "world rank %d: result says %d ranks and %lld steps, the group has %d ranks\n", rank,
            res.ranks, res.steps, gsize);
    rc = 1;
  } else {
    printf("world rank %d: group %d rank %d of %d trained %lld steps%s\n", rank, color, grank, gsize, res.steps,
           grank == 0 ? ", exported" : "");
  }
  cltrain_context_destroy(cx);
  /* cltrain is done with the communicator once cltrain_train_run has returned */
  MPI_Comm_free(&group);
  MPI_Finalize();
  return rc;
}
