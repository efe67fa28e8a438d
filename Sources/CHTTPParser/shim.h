#ifndef SWETCD_CHTTPPARSER_SHIM_H
#define SWETCD_CHTTPPARSER_SHIM_H
#include <http_parser.h>
#endif
