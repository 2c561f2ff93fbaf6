/* replay_main.c: a fuzz target's driver in the normal build: runs LLVMFuzzerTestOneInput on each
 * file named (a folder: on each file in it), as libFuzzer would replay them. The target aborts
 * on anything but a clean status; a crash fails the ctest. Fails too when no input was found,
 * so that the regression test cannot pass vacuously. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return fprintf(stderr, "replay: cannot open '%s'\n", path), 0;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *data = malloc(n > 0 ? (size_t)n : 1);
  if (!data || fread(data, 1, (size_t)n, f) != (size_t)n) {
    fprintf(stderr, "replay: cannot read '%s'\n", path);
    fclose(f), free(data);
    return 0;
  }
  fclose(f);
  fprintf(stderr, "replay: %s (%ld bytes)\n", path, n);
  LLVMFuzzerTestOneInput(data, (size_t)n);
  free(data);
  return 1;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The files in folder `dir`, in name order; returns how many ran, -1 on a read error. */
static int replay_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return fprintf(stderr, "replay: cannot open folder '%s'\n", dir), -1;
  char **names = NULL;
  int count = 0, ran = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    char **more = realloc(names, (size_t)(count + 1) * sizeof *names);
    if (!more) break;
    names = more;
    names[count++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, (size_t)count, sizeof *names, cmp_names);
  for (int i = 0; i < count; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if (!replay_file(path)) ran = -1;
    else if (ran >= 0) ran++;
    free(names[i]);
  }
  free(names);
  return ran;
}

int main(int argc, char **argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  int total = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    int ran = stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i]);
    if (ran < 0) return 1;
    total += ran;
  }
  printf("replayed %d inputs, each with a clean status\n", total);
  return total > 0 ? 0 : 1;
}
