/* `port53 publish`: puts a signed snapshot where a fleet's followers poll
 * it (docs/anycast.md): a directory a web server serves, or an HTTP(S) URL
 * that takes PUT (a WebDAV-enabled server, an S3 presigned URL).
 *
 * A follower must never see half a publish. The signature travels inside
 * the file (its trailer), so one object is the whole publish, and it
 * replaces the old one in one step: a directory gets a temporary file
 * renamed over the old name; an HTTP server or object store swaps the
 * object when the PUT completes.
 *
 * Static web servers derive ETags from the modification time in seconds
 * and the size (nginx: "mtime-size"), so two publishes of equal size within
 * one second would look unchanged to a follower. The directory publish
 * therefore makes each file's time later than the one it replaces; the
 * HTTP publish waits until the second after the old object's
 * Last-Modified.
 */
#ifndef P53_PUBLISH_H
#define P53_PUBLISH_H

#include "zones/common/err.h"

#include <stdbool.h>

struct publish_cfg {
	const char *snapshot;	 /* the file to publish */
	const char *dest;	 /* a directory, or an http(s):// URL */
	const char *name;	 /* object name in a directory or under a URL
				  * ending in '/'; NULL = the snapshot's base name */
	const char *key;	 /* sign with this private key first; NULL = as is */
	const char *header_file; /* one extra HTTP header line; NULL = none */
	bool allow_unsigned;	 /* publish a snapshot without a signature */
	unsigned timeout_ms;	 /* HTTP [60000] */
};

/* Verifies, optionally signs, and publishes; 0, or a negative code with
 * err set. Prints where it went on success (quiet: not). */
int publish_run(const struct publish_cfg *cfg, bool quiet, struct p53_err *err);

#endif
