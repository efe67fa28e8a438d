#ifndef SWETCD_CNGHTTP2_SHIM_H
#define SWETCD_CNGHTTP2_SHIM_H
/* nghttp2's API is functions and enums; no macro needs wrapping. */
#include <nghttp2/nghttp2.h>
#endif
