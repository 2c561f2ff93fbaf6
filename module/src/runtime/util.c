/* util.c: host side of kernels/util.cl (small buffer kernels used across the library), and the
 * choice of explicit work-group sizes from what the device and the kernel allow. */
#include <stdio.h>

#include "runtime/runtime.h"

size_t rt_reduce_width(const cltrain_context *cx) {
  /* 256 fills a GPU's work-group well; the tree's local array (WG floats, sometimes two) must
   * fit the device's local memory with room to spare, and the device's work-group limit. */
  size_t w = 256;
  while (w > 1 && (w > cx->limits.max_work_group || 4 * w * sizeof(float) > cx->limits.local_mem_bytes))
    w /= 2;
  return w;
}

size_t rt_reduce_width_for(const cltrain_context *cx, size_t len) {
  size_t width = 1, cap = rt_reduce_width(cx);
  while (width < len && width < cap) width *= 2;
  return width;
}

const char *rt_exact_div_sqrt(const cltrain_context *cx) {
  cl_device_fp_config fp = 0;
  if (clGetDeviceInfo(cx->device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL) != CL_SUCCESS)
    return "";
  return (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) ? "-cl-fp32-correctly-rounded-divide-sqrt" : "";
}

size_t rt_local_size(rt_call *c, size_t want) {
  size_t kernel_max = 0, multiple = 0;
  cl_device_id dev = c->cx->device;
  if (clGetKernelWorkGroupInfo(c->kernel, dev, CL_KERNEL_WORK_GROUP_SIZE, sizeof kernel_max,
                               &kernel_max, NULL) != CL_SUCCESS || kernel_max == 0)
    kernel_max = 1;
  if (clGetKernelWorkGroupInfo(c->kernel, dev, CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE,
                               sizeof multiple, &multiple, NULL) != CL_SUCCESS || multiple == 0)
    multiple = 1;
  size_t cap = kernel_max < c->cx->limits.max_work_group ? kernel_max : c->cx->limits.max_work_group;
  if (want > cap) want = cap;
  /* A multiple of the preferred size (a GPU's warp or wavefront) doubled toward `want`; never
   * past the cap, and at least 1. */
  size_t l = multiple <= want ? multiple : want;
  while (l * 2 <= want) l *= 2;
  return l ? l : 1;
}

cltrain_status rt_run_items(rt_call *c, size_t n) {
  size_t l = rt_local_size(c, 256);
  return rt_run(c, 1, &n, &l);
}

cltrain_status rt_run_groups(rt_call *c, size_t width, size_t groups, size_t dim1, size_t dim2) {
  size_t kernel_max = 0;
  if (clGetKernelWorkGroupInfo(c->kernel, c->cx->device, CL_KERNEL_WORK_GROUP_SIZE,
                               sizeof kernel_max, &kernel_max, NULL) == CL_SUCCESS &&
      kernel_max < width)
    return rt_fail(c->cx, CLTRAIN_ERR_OPENCL,
                   "kernel %s needs work-groups of %zu items, the device allows %zu for it",
                   c->name, width, kernel_max);
  size_t g[3] = {groups * width, dim1, dim2}, l[3] = {width, 1, 1};
  return rt_run(c, 3, g, l);
}

cltrain_status rt_fill(cltrain_context *cx, buf y, float value, size_t n) {
  rt_call c;
  TRY(rt_kernel(cx, "util.cl", "", "fill", &c));
  arg_buf(&c, y);
  arg_float(&c, value);
  arg_int(&c, (int)n);
  return rt_run_items(&c, n);
}

cltrain_status rt_copy(cltrain_context *cx, buf y, buf x, size_t n) {
  rt_call c;
  TRY(rt_kernel(cx, "util.cl", "", "copy", &c));
  arg_buf(&c, y);
  arg_buf(&c, x);
  arg_int(&c, (int)n);
  return rt_run_items(&c, n);
}
