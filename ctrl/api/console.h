/* The web console: read-only pages served by the control API, and the JSON
 * they read (docs/console.md).
 *
 *   GET /console/...                 the pages (ctrl/console/ assets) and
 *                                    Chart.js from Debian's libjs-chart.js
 *   GET /v1/console/zones            zones of the live snapshot
 *   GET /v1/console/records?zone=Z&q=TEXT&type=T   record search (Route 53
 *                                    record sets, routing policies included)
 *   GET /v1/console/series           answers per second by rcode and worker
 *   GET /v1/console/health-history   every state change of every health check
 *   GET /v1/console/snapshots        snapshot generations, swaps and latency
 *
 * A sampler thread reads the same counters, health checks and snapshot
 * status as /v1/stats and /v1/health once a second and keeps the last few
 * minutes, so the pages show rates and history without the servers keeping
 * any. Nothing here changes the server.
 */
#ifndef P53_CONSOLE_H
#define P53_CONSOLE_H

#include "ctrl/api/api.h"

#include <microhttpd.h>
#include <stdbool.h>

struct console;

/* Starts the sampler. assets: the directory of index.html and app.js
 * (NULL: $PORT53_CONSOLE_DIR, else the installed one); chartjs: the
 * directory of chart.min.js (NULL: $PORT53_CHARTJS_DIR, else
 * /usr/share/javascript/chart.js). NULL on failure. */
struct console *console_new(const struct api_cfg *cfg, const char *assets, const char *chartjs);
void console_free(struct console *c);

/* Whether url is the console's (pages or /v1/console/ JSON). */
bool console_owns(const char *url);
/* Answers a GET for one of the console's URLs. */
enum MHD_Result console_handle(struct console *c, struct MHD_Connection *conn, const char *url);

#endif
