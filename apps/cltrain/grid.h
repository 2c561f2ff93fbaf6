/* grid.h: the picture grid of `cltrain predict --grid`: thumbnails with a caption under each. */
#ifndef CLTRAIN_GRID_H
#define CLTRAIN_GRID_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { GRID_COLS = 4, GRID_THUMB = 224, GRID_CAPTION = 32 }; /* a cell is THUMB x (THUMB + CAPTION) */

/* Writes `out` (format from its extension, e.g. .png) showing images paths[0..n-1] as
 * GRID_THUMB-square thumbnails (shorter side resized, centre cropped), min(n, GRID_COLS) per row,
 * captions[i] drawn under each. Written through a temporary file and a rename. Returns 0, or 1
 * with the reason (naming the file) in err. */
int grid_write(const char *out, const char *const *paths, const char *const *captions, int n,
               char *err, size_t errcap);

#ifdef __cplusplus
}
#endif
#endif
