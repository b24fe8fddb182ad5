#include "zones/common/err.h"

#include <stdio.h>

static int verr(struct p53_err *err, int code, const char *prefix, const char *fmt, va_list ap)
{
	if (err == NULL || err->code != 0)
		return code;
	err->code = code;
	int n = snprintf(err->msg, sizeof(err->msg), "%s", prefix);
	if (n < 0 || (size_t)n >= sizeof(err->msg))
		return code;
	vsnprintf(err->msg + n, sizeof(err->msg) - (size_t)n, fmt, ap);
	return code;
}

int p53_err_set(struct p53_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verr(err, code, "", fmt, ap);
	va_end(ap);
	return code;
}

int p53_err_at(struct p53_err *err, int code, const char *file, unsigned line, const char *fmt, ...)
{
	char prefix[300];
	snprintf(prefix, sizeof(prefix), "%s:%u: ", file ? file : "-", line);
	va_list ap;
	va_start(ap, fmt);
	verr(err, code, prefix, fmt, ap);
	va_end(ap);
	return code;
}

const char *p53_strerror(int code)
{
	switch (code) {
	case P53_OK:
		return "success";
	case P53_EINVAL:
		return "invalid input";
	case P53_ENOMEM:
		return "out of memory";
	case P53_EIO:
		return "I/O error";
	case P53_ERANGE:
		return "limit exceeded";
	case P53_ENOTSUP:
		return "not supported";
	case P53_ECORRUPT:
		return "snapshot corrupt";
	}
	return "unknown error";
}
