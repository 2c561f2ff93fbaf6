/* nompi.c: a build without MPI (CMake CLTRAIN_MPI=OFF) refuses a communicator. Linked with
 * train/dist.c compiled as such a build compiles it (no CLTRAIN_HAVE_MPI) ahead of the
 * library, whose own dist.c then is never linked in: the rest of the library is the same code.
 * Every call that takes a communicator is CLTRAIN_ERR_UNSUPPORTED, naming the CMake option,
 * and nothing is exported; without one the run is unchanged (the other tests). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "opencv2/cltrain.h"

int main(void) {
  cltrain_context *cx = NULL;
  if (!CHECK_OK(cltrain_context_create(NULL, &cx))) return check_done();
  int comm = 0; /* any caller's communicator: the call must not look at it */
  const void *comms[2] = {CLTRAIN_MPI_COMM_WORLD, &comm};
  char out[] = "/tmp/cltrain_nompi_XXXXXX";
  int fd = mkstemp(out);
  CHECK(fd >= 0, "mkstemp");
  close(fd), unlink(out);
  for (int k = 0; k < 2; k++) {
    cltrain_train_options o = cltrain_train_defaults();
    o.model_path = "model.onnx", o.data_dir = "data", o.out_path = out;
    o.mpi_comm = comms[k];
    CHECK_STATUS(cltrain_train_run(cx, &o, NULL), CLTRAIN_ERR_UNSUPPORTED);
    CHECK(strstr(cltrain_last_error(cx), "-DCLTRAIN_MPI=ON") != NULL, "message: %s", cltrain_last_error(cx));
    CHECK(access(out, F_OK) != 0, "%s was written", out);
  }
  int rank = -1, size = -1, local = -1;
  CHECK_STATUS(cltrain_mpi_ranks(CLTRAIN_MPI_COMM_WORLD, &rank, &size, &local), CLTRAIN_ERR_UNSUPPORTED);
  cltrain_mpi_abort(CLTRAIN_MPI_COMM_WORLD, 1); /* does nothing: there is no job to end */
  cltrain_context_destroy(cx);
  return check_done();
}
