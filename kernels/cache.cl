/* cache.cl: the feature cache's row moves (train/cache.c). The cache holds one row of `row`
 * floats per image; a batch buffer holds n rows, row b belonging to image idx[b]. */

/* batch[b] = cache[idx[b]] */
__kernel void cache_gather(__global float *batch, int batch_off, __global const float *cache,
                           __global const int *idx, int row, int n) {
  int j = get_global_id(0), b = get_global_id(1);
  if (j < row && b < n) batch[batch_off + (size_t)b * row + j] = cache[(size_t)idx[b] * row + j];
}

/* cache[idx[b]] = batch[b] */
__kernel void cache_scatter(__global float *cache, __global const int *idx, __global const float *batch,
                            int batch_off, int row, int n) {
  int j = get_global_id(0), b = get_global_id(1);
  if (j < row && b < n) cache[(size_t)idx[b] * row + j] = batch[batch_off + (size_t)b * row + j];
}
