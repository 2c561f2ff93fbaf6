/* atomic_file.c: write to a temporary file, fsync, rename, fsync the folder (atomic_file.h). */
#define _GNU_SOURCE
#include "core/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int atomic_file_open(atomic_file *f, const char *path) {
  size_t len = strlen(path) + 16;
  f->path = path, f->fd = -1, f->tmp = malloc(len);
  if (!f->tmp) return ENOMEM;
  snprintf(f->tmp, len, "%s.tmp.XXXXXX", path);
  f->fd = mkstemp(f->tmp);
  if (f->fd < 0) {
    int err = errno;
    free(f->tmp), f->tmp = NULL;
    return err;
  }
  fchmod(f->fd, 0644); /* mkstemp makes it 0600; an output file is as readable as any other */
  return 0;
}

int atomic_file_write(atomic_file *f, const void *data, size_t bytes) {
  const char *p = data;
  while (bytes) {
    ssize_t w = write(f->fd, p, bytes);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int err = w < 0 ? errno : EIO;
      atomic_file_abort(f);
      return err;
    }
    p += w, bytes -= (size_t)w;
  }
  return 0;
}

/* The folder holding path: its entry for the renamed file reaches the disk only with its fsync. */
static int sync_folder(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash == path ? strdup("/") : slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
  if (!dir) return ENOMEM;
  int fd = open(dir, O_RDONLY | O_DIRECTORY), err = 0;
  free(dir);
  if (fd < 0) return errno;
  if (fsync(fd) != 0 && errno != EINVAL) err = errno; /* EINVAL: a folder that cannot sync (some FUSE) */
  close(fd);
  return err;
}

int atomic_file_commit(atomic_file *f) {
  int err = fsync(f->fd) != 0 ? errno : 0;
  if (close(f->fd) != 0 && !err) err = errno;
  f->fd = -1;
  if (!err && rename(f->tmp, f->path) != 0) err = errno;
  if (err) {
    atomic_file_abort(f);
    return err;
  }
  free(f->tmp), f->tmp = NULL;
  return sync_folder(f->path);
}

void atomic_file_abort(atomic_file *f) {
  if (f->fd >= 0) close(f->fd);
  if (f->tmp) unlink(f->tmp);
  free(f->tmp);
  f->fd = -1, f->tmp = NULL;
}

int atomic_file_write_all(const char *path, const void *data, size_t bytes) {
  atomic_file f;
  int err = atomic_file_open(&f, path);
  if (!err) err = atomic_file_write(&f, data, bytes);
  return err ? err : atomic_file_commit(&f);
}

void atomic_file_remove_stale(const char *path) {
  size_t len = strlen(path) + 16;
  char *pattern = malloc(len);
  if (!pattern) return;
  snprintf(pattern, len, "%s.tmp.??????", path);
  glob_t g;
  if (glob(pattern, GLOB_NOSORT, NULL, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; i++) unlink(g.gl_pathv[i]);
    globfree(&g);
  }
  free(pattern);
}
