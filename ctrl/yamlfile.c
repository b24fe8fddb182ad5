/* Shared by the configuration readers (yamlfile.h). */
#include "ctrl/yamlfile.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Finds the first byte of f that is not part of well-formed UTF-8 (no
 * overlong forms, surrogates or code points past U+10FFFF); true and its
 * line and column (1-based) when there is one. libfyaml 0.8 (Debian 12)
 * never returns from a directive line holding such bytes (found by
 * fuzz/fuzz_conf.c), and YAML 1.2 files are Unicode anyway. */
static bool bad_utf8(FILE *f, int *line, int *col)
{
	int c, need = 0;
	unsigned lo = 0x80, hi = 0xbf;
	*line = 1;
	*col = 0;
	while ((c = getc(f)) != EOF) {
		(*col)++;
		if (need) {
			if ((unsigned)c < lo || (unsigned)c > hi)
				return true;
			need--;
			lo = 0x80;
			hi = 0xbf;
			continue;
		}
		if (c == '\n') {
			(*line)++;
			*col = 0;
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
			return true;
		}
	}
	return need != 0;
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
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(msg, cap, "%s: %s", path, strerror(errno));
		return NULL;
	}
	int line, col;
	bool bad = bad_utf8(f, &line, &col);
	fclose(f);
	if (bad) {
		snprintf(msg, cap, "%s:%d:%d: not UTF-8 text", path, line, col);
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
	struct fy_parse_cfg pc = {.flags = FYPCF_QUIET, .diag = diag};
	struct fy_document *doc = fy_document_build_from_file(&pc, path);
	fy_diag_destroy(diag);
	if (doc == NULL) {
		char *nl = strchr(db.text, '\n');
		if (nl)
			*nl = 0;
		if (db.text[0])
			snprintf(msg, cap, "%s: not YAML: %s", path, db.text);
		else
			snprintf(msg, cap, "%s: cannot be read or is not YAML", path);
	}
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
