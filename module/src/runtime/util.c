/* util.c: host side of kernels/util.cl, small buffer kernels used across the library. */
#include "runtime.h"

cltrain_status rt_fill(cltrain_context *cx, buf y, float value, size_t n) {
  rt_call c;
  TRY(rt_kernel(cx, "util.cl", "", "fill", &c));
  arg_buf(&c, y);
  arg_float(&c, value);
  arg_int(&c, (int)n);
  size_t g = n, l = 64;
  return rt_run(&c, 1, &g, &l);
}

cltrain_status rt_copy(cltrain_context *cx, buf y, buf x, size_t n) {
  rt_call c;
  TRY(rt_kernel(cx, "util.cl", "", "copy", &c));
  arg_buf(&c, y);
  arg_buf(&c, x);
  arg_int(&c, (int)n);
  size_t g = n, l = 64;
  return rt_run(&c, 1, &g, &l);
}
