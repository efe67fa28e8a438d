#ifndef SWETCD_CLIBUV_SHIM_H
#define SWETCD_CLIBUV_SHIM_H
#include <uv.h>
#endif
