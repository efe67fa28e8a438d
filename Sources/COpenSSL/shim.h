#ifndef SWETCD_COPENSSL_SHIM_H
#define SWETCD_COPENSSL_SHIM_H
#include <openssl/evp.h>
#endif
