/* cache.cl: the feature cache's row moves (train/cache.c). The cache holds one row of `row`
 * floats per image; a batch buffer holds n rows, row b belonging to image idx[b]. One work-item
 * per float of the batch, 1-D: consecutive items move consecutive floats of a row. */

/* batch[b] = cache[idx[b]] */
__kernel void cache_gather(__global float *batch, int batch_off, __global const float *cache,
                           __global const int *idx, int row, int n) {
  int e = get_global_id(0), b = e / row, j = e - b * row;
  if (b < n) batch[batch_off + e] = cache[(size_t)idx[b] * row + j];
}

/* cache[idx[b]] = batch[b] */
__kernel void cache_scatter(__global float *cache, __global const int *idx, __global const float *batch,
                            int batch_off, int row, int n) {
  int e = get_global_id(0), b = e / row, j = e - b * row;
  if (b < n) cache[(size_t)idx[b] * row + j] = batch[batch_off + e];
}
