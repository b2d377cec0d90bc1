/*
 * dashboard_assets.h - the dashboard's files, built into artstored. The
 * table is generated at build time (cmake/embed.cmake) from the page's
 * sources and the JavaScript generated from proto/artstore.proto; it is
 * empty when the server is built without the dashboard.
 */
#ifndef AS_DASHBOARD_ASSETS_H
#define AS_DASHBOARD_ASSETS_H

#include <stddef.h>

typedef struct as_asset {
    const char *path;            /* "/index.html" */
    const char *type;            /* Content-Type */
    const unsigned char *data;
    size_t len;
} as_asset_t;

extern const as_asset_t as_dashboard_assets[];
extern const size_t as_dashboard_n_assets;

#endif
