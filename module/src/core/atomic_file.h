/* atomic_file.h: how every file cltrain writes reaches the disk: into a temporary file beside the
 * target (PATH.tmp.XXXXXX), fsynced, renamed over PATH, and the folder fsynced, so that a crash or
 * power cut leaves the old file or the new one, never a part (the rename is on disk too). */
#ifndef CLTRAIN_ATOMIC_FILE_H
#define CLTRAIN_ATOMIC_FILE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct atomic_file {
  const char *path; /* the target, as given (not copied) */
  char *tmp;        /* the temporary file beside it, while open */
  int fd;
} atomic_file;

/* Each returns 0 or an errno value. After a failure the temporary file is gone. */
int atomic_file_open(atomic_file *f, const char *path);
int atomic_file_write(atomic_file *f, const void *data, size_t bytes);
/* fsync, close, rename over f->path, fsync the folder. */
int atomic_file_commit(atomic_file *f);
/* Closes and deletes the temporary file (a verification failed); accepts a closed file. */
void atomic_file_abort(atomic_file *f);

/* All of it for bytes already in memory. */
int atomic_file_write_all(const char *path, const void *data, size_t bytes);

/* Deletes the PATH.tmp.XXXXXX files a crashed writer of `path` left behind. */
void atomic_file_remove_stale(const char *path);

#ifdef __cplusplus
}
#endif
#endif
