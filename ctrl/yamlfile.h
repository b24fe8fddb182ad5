/* Reading a YAML file for the configuration readers (conf.c, resolv/rconf.c):
 * the checks every such file gets before libfyaml sees it, libfyaml's own
 * syntax messages captured instead of printed, and the place of a node for
 * "FILE:LINE:COL: reason" messages.
 */
#ifndef P53_YAMLFILE_H
#define P53_YAMLFILE_H

#include <libfyaml.h>
#include <stdbool.h>
#include <stddef.h>

/* Parses path into a document. On failure returns NULL and writes one line
 * into msg, starting with the path: the file cannot be opened, is not
 * UTF-8 text (with the first bad byte's line and column), or is not YAML
 * (libfyaml's message, which carries the line and column). */
struct fy_document *yamlfile_load(const char *path, char *msg, size_t cap);

/* The 1-based line and column where node at starts. A mapping or sequence
 * has no token of its own: its first key or item stands for it. False when
 * there is no place to give (NULL, or an empty collection). */
bool yamlfile_place(struct fy_node *at, int *line, int *col);

#endif
