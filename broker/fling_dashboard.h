/*  fling_dashboard.h - the dashboard's files (broker/dashboard/), built into
    the broker as byte arrays by cmake/fling_embed.cmake, so the page needs
    no file beside the binary and always matches the broker's JSON. */
#ifndef FLING_DASHBOARD_H_INCLUDED
#define FLING_DASHBOARD_H_INCLUDED

#include "fling_http.h"

#include <stddef.h>

extern const fling_http_file_t fling_dashboard_files[];
extern const size_t fling_dashboard_file_count;

#endif
