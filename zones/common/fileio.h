/* Files the way snapshots and firewall databases need them: mapped
 * read-only and populated up front (so the first queries do not fault), and
 * written atomically (a temporary file, fsync, rename), so a reader never
 * sees half a file and a failed write leaves the old one in place. */
#ifndef P53_FILEIO_H
#define P53_FILEIO_H

#include "zones/common/err.h"

#include <stddef.h>
#include <stdint.h>

/* Maps path; *base and *size describe the mapping. Messages name the file. */
int p53_file_map(const char *path, const uint8_t **base, size_t *size, struct p53_err *err);
void p53_file_unmap(const uint8_t *base, size_t size);
/* Writes data and then tail (tail may be NULL), as one file. */
int p53_file_write_atomic(const char *path, const void *data, size_t len, const void *tail,
			  size_t tail_len, struct p53_err *err);

#endif
