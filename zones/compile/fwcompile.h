/* DNS Firewall compiler: rules JSON and domain lists to a firewall image
 * (layout in zones/common/fwfmt.h). */
#ifndef P53_FWCOMPILE_H
#define P53_FWCOMPILE_H

#include "zones/common/err.h"

#include <stddef.h>
#include <stdint.h>

struct p53_fw_compile_opts {
	uint64_t serial; /* 0: compile time in unix seconds */
	/* Non-fatal findings (an empty list, a rule that can never match);
	 * NULL to ignore them. */
	void (*warn)(void *arg, const char *msg);
	void *warn_arg;
};

/* Compiles the rules file at path (JSON, docs/firewall.md) and the domain
 * lists it names (paths relative to the rules file) into a firewall image
 * (malloc'd, *img). Errors name their origin: "file:line: reason" for list
 * lines, the rule for an invalid pattern with Hyperscan's message. */
int p53_fw_compile(const char *path, const struct p53_fw_compile_opts *o, uint8_t **img,
		   size_t *len, struct p53_err *err);
/* Same, written to out atomically (temporary file, then rename). */
int p53_fw_compile_file(const char *path, const struct p53_fw_compile_opts *o, const char *out,
			struct p53_err *err);

#endif
