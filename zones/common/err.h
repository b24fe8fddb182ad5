/* Error reporting for offline code (compiler, loader, CLI).
 *
 * The hot path never formats messages; it returns codes and counts.
 * Everything else reports a human-readable reason, prefixed with
 * "file:line: " where the error comes from an input file.
 */
#ifndef P53_ERR_H
#define P53_ERR_H

#include <stdarg.h>
#include <stddef.h>

enum {
	P53_OK = 0,
	P53_EINVAL = -1, /* bad input: syntax, range, semantics */
	P53_ENOMEM = -2,
	P53_EIO = -3,	  /* open/read/write/mmap failed */
	P53_ERANGE = -4,  /* buffer or limit exceeded */
	P53_ENOTSUP = -5, /* known but unsupported */
	P53_ECORRUPT = -6 /* snapshot failed verification */
};

struct p53_err {
	int code;
	char msg[512];
};

/* Records the first error only: later calls keep the original reason, so the
 * message names the root cause rather than its consequences. Returns code. */
int p53_err_set(struct p53_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, prefixed with "file:line: ". */
int p53_err_at(struct p53_err *err, int code, const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
const char *p53_strerror(int code);

#endif
