/* export.h: internal declarations of the ONNX exporter (export_onnx.cpp); the entry point,
 * cltrain_model_export_onnx, is public in cltrain.h. */
#ifndef CLTRAIN_EXPORT_H
#define CLTRAIN_EXPORT_H

#include "opencv2/cltrain.h"

#endif
