/* errors.c: status texts, OpenCL error names, and the per-context and per-thread last error. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "runtime/runtime.h"

static _Thread_local char thread_error[8192];

const char *cltrain_status_str(cltrain_status s) {
  switch (s) {
    case CLTRAIN_OK: return "CLTRAIN_OK: success";
    case CLTRAIN_ERR_ARG: return "CLTRAIN_ERR_ARG: invalid argument";
    case CLTRAIN_ERR_DEVICE: return "CLTRAIN_ERR_DEVICE: no usable OpenCL device";
    case CLTRAIN_ERR_OPENCL: return "CLTRAIN_ERR_OPENCL: an OpenCL call failed";
    case CLTRAIN_ERR_BUILD: return "CLTRAIN_ERR_BUILD: an OpenCL program failed to build";
    case CLTRAIN_ERR_CLBLAST: return "CLTRAIN_ERR_CLBLAST: a CLBlast call failed";
    case CLTRAIN_ERR_OUT_OF_MEMORY: return "CLTRAIN_ERR_OUT_OF_MEMORY: out of host or device memory";
    case CLTRAIN_ERR_IO: return "CLTRAIN_ERR_IO: a file could not be read or written";
    case CLTRAIN_ERR_FORMAT: return "CLTRAIN_ERR_FORMAT: a file is corrupt or of the wrong kind";
    case CLTRAIN_ERR_UNSUPPORTED: return "CLTRAIN_ERR_UNSUPPORTED: not supported";
    case CLTRAIN_ERR_OPENCV: return "CLTRAIN_ERR_OPENCV: OpenCV raised an exception";
    case CLTRAIN_ERR_NUMERIC: return "CLTRAIN_ERR_NUMERIC: the loss is NaN or infinite";
    case CLTRAIN_ERR_INTERNAL: return "CLTRAIN_ERR_INTERNAL: internal error (a bug in cltrain)";
    case CLTRAIN_ERR_TIMEOUT: return "CLTRAIN_ERR_TIMEOUT: another MPI rank did not answer in time";
  }
  return "CLTRAIN_ERR_UNKNOWN: unknown status";
}

const char *cltrain_version(void) { return CLTRAIN_VERSION_STRING; }
int cltrain_version_number(void) { return CLTRAIN_VERSION_NUMBER; }

const char *cltrain_last_error(const cltrain_context *cx) {
  return cx ? cx->last_error : thread_error;
}

cltrain_status rt_fail(cltrain_context *cx, cltrain_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(thread_error, sizeof thread_error, fmt, ap);
  va_end(ap);
  if (cx) memcpy(cx->last_error, thread_error, sizeof cx->last_error);
  return st;
}

const char *rt_cl_error_name(cl_int err) {
  switch (err) {
#define E(x) case x: return #x;
    E(CL_SUCCESS) E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE) E(CL_COMPILER_NOT_AVAILABLE)
    E(CL_MEM_OBJECT_ALLOCATION_FAILURE) E(CL_OUT_OF_RESOURCES) E(CL_OUT_OF_HOST_MEMORY)
    E(CL_PROFILING_INFO_NOT_AVAILABLE) E(CL_MEM_COPY_OVERLAP) E(CL_IMAGE_FORMAT_MISMATCH)
    E(CL_IMAGE_FORMAT_NOT_SUPPORTED) E(CL_BUILD_PROGRAM_FAILURE) E(CL_MAP_FAILURE)
    E(CL_MISALIGNED_SUB_BUFFER_OFFSET) E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    E(CL_COMPILE_PROGRAM_FAILURE) E(CL_LINKER_NOT_AVAILABLE) E(CL_LINK_PROGRAM_FAILURE)
    E(CL_DEVICE_PARTITION_FAILED) E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) E(CL_INVALID_VALUE)
    E(CL_INVALID_DEVICE_TYPE) E(CL_INVALID_PLATFORM) E(CL_INVALID_DEVICE) E(CL_INVALID_CONTEXT)
    E(CL_INVALID_QUEUE_PROPERTIES) E(CL_INVALID_COMMAND_QUEUE) E(CL_INVALID_HOST_PTR)
    E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) E(CL_INVALID_IMAGE_SIZE)
    E(CL_INVALID_SAMPLER) E(CL_INVALID_BINARY) E(CL_INVALID_BUILD_OPTIONS) E(CL_INVALID_PROGRAM)
    E(CL_INVALID_PROGRAM_EXECUTABLE) E(CL_INVALID_KERNEL_NAME) E(CL_INVALID_KERNEL_DEFINITION)
    E(CL_INVALID_KERNEL) E(CL_INVALID_ARG_INDEX) E(CL_INVALID_ARG_VALUE) E(CL_INVALID_ARG_SIZE)
    E(CL_INVALID_KERNEL_ARGS) E(CL_INVALID_WORK_DIMENSION) E(CL_INVALID_WORK_GROUP_SIZE)
    E(CL_INVALID_WORK_ITEM_SIZE) E(CL_INVALID_GLOBAL_OFFSET) E(CL_INVALID_EVENT_WAIT_LIST)
    E(CL_INVALID_EVENT) E(CL_INVALID_OPERATION) E(CL_INVALID_GL_OBJECT) E(CL_INVALID_BUFFER_SIZE)
    E(CL_INVALID_MIP_LEVEL) E(CL_INVALID_GLOBAL_WORK_SIZE) E(CL_INVALID_PROPERTY)
    E(CL_INVALID_IMAGE_DESCRIPTOR) E(CL_INVALID_COMPILER_OPTIONS) E(CL_INVALID_LINKER_OPTIONS)
    E(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef E
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
  }
  return "CL_UNKNOWN_ERROR";
}

cltrain_status rt_cl_fail(cltrain_context *cx, cl_int err, const char *call, const char *file,
                          int line) {
  const char *base = strrchr(file, '/');
  base = base ? base + 1 : file;
  /* CL_OUT_OF_RESOURCES: how GPU drivers report memory they could not back at first use */
  int oom = err == CL_OUT_OF_HOST_MEMORY || err == CL_MEM_OBJECT_ALLOCATION_FAILURE ||
            err == CL_INVALID_BUFFER_SIZE || err == CL_OUT_OF_RESOURCES;
  return rt_fail(cx, oom ? CLTRAIN_ERR_OUT_OF_MEMORY : CLTRAIN_ERR_OPENCL,
                 "%s (%d) from %s at %s:%d on device '%s'%s", rt_cl_error_name(err), (int)err,
                 call, base, line, cx ? cx->info.name : "?",
                 oom ? "; try a smaller batch or another device" : "");
}
