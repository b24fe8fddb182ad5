/* Shared by the configuration readers (yamlfile.h). */
#include "ctrl/yamlfile.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Finds the first character of p[0..n) that a YAML stream cannot hold:
 * bytes that are not well-formed UTF-8 (no overlong forms, surrogates or
 * code points past U+10FFFF), control characters other than tab, line
 * feed and carriage return (YAML 1.2's c-printable: no C0 but those three,
 * no DEL, no C1 but NEL), and tabs. Returns NULL, or why, with the 1-based
 * line and column of the character. libfyaml 0.8 (Debian 12) never returns
 * from a directive line holding bytes that are not UTF-8, and 0.7 crashes
 * on a tab after an explicit key ("? a:\t- b", "? a:\t ? b"; found by
 * fuzz/fuzz_conf.c). YAML never indents with tabs and these files need
 * none elsewhere, so all are refused rather than the patterns known. */
static const char *bad_text(const uint8_t *p, size_t n, int *line, int *col)
{
	int need = 0;
	unsigned lo = 0x80, hi = 0xbf, lead = 0;
	*line = 1;
	*col = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned c = p[i];
		(*col)++; /* in bytes, as before */
		if (need) {
			if (c < lo || c > hi)
				return "not UTF-8 text";
			/* U+0080 to U+009F but NEL (U+0085): C2 80 to C2 9F. */
			if (lead == 0xc2 && c <= 0x9f && c != 0x85)
				return "a control character, which YAML does not allow";
			need--;
			lo = 0x80;
			hi = 0xbf;
			continue;
		}
		lead = c;
		if (c == '\n') {
			(*line)++;
			*col = 0;
		} else if (c == '\t') {
			return "a tab: indent and separate with spaces";
		} else if ((c < 0x20 && c != '\r') || c == 0x7f) {
			return "a control character, which YAML does not allow";
		} else if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			lo = c == 0xe0 ? 0xa0 : 0x80;
			hi = c == 0xed ? 0x9f : 0xbf;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			lo = c == 0xf0 ? 0x90 : 0x80;
			hi = c == 0xf4 ? 0x8f : 0xbf;
		} else if (c >= 0x80) {
			return "not UTF-8 text";
		}
	}
	return need ? "not UTF-8 text" : NULL;
}

/* The whole file in a malloc'd buffer (one byte more, never NULL on
 * success). libfyaml would otherwise map it, and unmapping costs a TLB
 * shootdown on every core the process ran on: the larger part of reading
 * a small file. Returns 0 or an errno. */
static int read_all(const char *path, char **out, size_t *outlen)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return errno;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	int rc = buf ? 0 : ENOMEM;
	while (rc == 0) {
		if (len == cap) {
			char *p = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
			if (p == NULL) {
				rc = ENOMEM;
				break;
			}
			buf = p;
			cap *= 2;
		}
		size_t got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0) {
			rc = ferror(f) ? EIO : 0;
			break;
		}
	}
	fclose(f);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

/* libfyaml's messages arrive in pieces; the first line is the one kept
 * (the rest is the source line and a caret). */
struct diag_buf {
	char text[512];
	size_t n;
};

static void diag_out(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
	(void)diag;
	struct diag_buf *d = user;
	size_t room = sizeof(d->text) - 1 - d->n;
	if (len > room)
		len = room;
	memcpy(d->text + d->n, buf, len);
	d->n += len;
	d->text[d->n] = 0;
}

struct fy_document *yamlfile_load(const char *path, char *msg, size_t cap)
{
	char *text = NULL;
	size_t len = 0;
	int e = read_all(path, &text, &len);
	if (e) {
		snprintf(msg, cap, "%s: %s", path, strerror(e));
		return NULL;
	}
	int line, col;
	const char *why = bad_text((const uint8_t *)text, len, &line, &col);
	if (why) {
		free(text);
		snprintf(msg, cap, "%s:%d:%d: %s", path, line, col, why);
		return NULL;
	}
	struct diag_buf db = {{0}, 0};
	struct fy_diag_cfg dc;
	fy_diag_cfg_default(&dc);
	dc.fp = NULL;
	dc.output_fn = diag_out;
	dc.user = &db;
	dc.colorize = false;
	dc.show_source = false;
	dc.show_type = false;
	dc.show_module = false;
	dc.show_position = true;
	struct fy_diag *diag = fy_diag_create(&dc);
	/* Errors are collected, not printed: libfyaml 0.7 crashes printing
	 * the source excerpt of some (fy_diag_error_atom_display, found by
	 * fuzz/fuzz_conf.c), and the first error with its place is all that
	 * is reported. */
	if (diag)
		fy_diag_set_collect_errors(diag, true);
	struct fy_parse_cfg pc = {.flags = FYPCF_QUIET, .diag = diag};
	/* The document owns text from here, whatever the outcome. */
	struct fy_document *doc = fy_document_build_from_malloc_string(&pc, text, len);
	if (doc == NULL) {
		void *it = NULL;
		struct fy_diag_error *de = diag ? fy_diag_errors_iterate(diag, &it) : NULL;
		char *nl = strchr(db.text, '\n');
		if (nl)
			*nl = 0;
		if (de && de->msg)
			snprintf(msg, cap, "%s: not YAML: %d:%d: %s", path, de->line, de->column,
				 de->msg);
		else if (db.text[0])
			snprintf(msg, cap, "%s: not YAML: %s", path, db.text);
		else
			snprintf(msg, cap, "%s: cannot be read or is not YAML", path);
	}
	fy_diag_destroy(diag);
	return doc;
}

bool yamlfile_place(struct fy_node *at, int *line, int *col)
{
	while (at && !fy_node_is_scalar(at)) {
		void *it = NULL;
		if (fy_node_is_mapping(at)) {
			struct fy_node_pair *pr = fy_node_mapping_iterate(at, &it);
			at = pr ? fy_node_pair_key(pr) : NULL;
		} else {
			at = fy_node_sequence_iterate(at, &it);
		}
	}
	struct fy_token *tk = at ? fy_node_get_scalar_token(at) : NULL;
	const struct fy_mark *m = tk ? fy_token_start_mark(tk) : NULL;
	if (m == NULL)
		return false;
	*line = m->line + 1;
	*col = m->column + 1;
	return true;
}
