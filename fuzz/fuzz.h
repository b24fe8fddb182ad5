/* Shared by the fuzz targets (docs/fuzzing.md).
 *
 * Each target defines LLVMFuzzerTestOneInput. Built with -Dfuzz=true (clang,
 * tools/fuzz.sh) they link libFuzzer; in every other build they link
 * replay.c instead, which feeds each file of the target's corpus once, so
 * every crash ever found stays a regression test of the ordinary suite.
 */
#ifndef P53_FUZZ_H
#define P53_FUZZ_H

#include "zones/answer/snapshot.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A file of the source tree (P53_SRC_ROOT is set by fuzz/meson.build). */
const char *fuzz_src(const char *rel);
/* A private directory, created on first use and removed at exit. */
const char *fuzz_tmpdir(void);
/* Writes data to name inside fuzz_tmpdir(); returns the full path or NULL. */
const char *fuzz_put(const char *name, const void *data, size_t len);

/* Compiles "origin=path,origin=path" zone inputs (paths relative to the
 * source tree) with optional geo and latency CSVs into a loaded snapshot;
 * aborts on failure, since the targets' fixtures must build. */
struct p53_snapshot *fuzz_snapshot(const char *const *zones, const char *geo, const char *latency,
				   int no_prerender, uint8_t **img, size_t *len);

/* /dev/null, opened once: a target printing what it compiled writes there
 * without opening, allocating and closing a stream per input. */
FILE *fuzz_devnull(void);

/* The compile threads every target asks for: two, as on any machine of two
 * or more CPUs (so the work is cut into the same parts wherever a target
 * runs), and no look-up of the CPU count per input. */
#define FUZZ_COMPILE_THREADS 2

/* Writes data to name in fuzz_tmpdir() and compiles it as zone
 * "example.com." with o. Returns the loaded snapshot, or NULL when the
 * compiler refused it (with a message: a silent refusal aborts); aborts when
 * the loader refuses what the compiler built. */
struct p53_compile_opts;
struct p53_zone_input;
struct p53_snapshot *fuzz_compile_input(const char *name, const uint8_t *data, size_t size,
					const struct p53_compile_opts *o);
/* Compiles one zone input with o and loads the image: the snapshot, or
 * NULL when the compiler refused it (with a message: a silent refusal
 * aborts); aborts when the loader refuses what the compiler built. */
struct p53_snapshot *fuzz_compile_load(const struct p53_zone_input *in,
				       const struct p53_compile_opts *o);

/* Recomputes every section checksum and the content hash of a (mutated)
 * snapshot image, so that the loader's structural checks, not its hashes,
 * decide. Touches only what lies inside the image: sections whose
 * table entries point outside it are left alone. */
void fuzz_reseal(uint8_t *img, size_t len);

/* Asks the engine about nodes of s: each node's name and a name below it,
 * for a spread of types, over UDP and TCP, so that any structure the loader
 * accepted is walked the way queries walk it. seed picks the window of
 * nodes and the types (a bounded number of queries per call). */
void fuzz_walk_snapshot(const struct p53_snapshot *s, const uint8_t *health, uint32_t nhealth,
			uint32_t seed);
/* A cheap hash of the input, for fuzz_walk_snapshot's seed. */
uint32_t fuzz_seed(const uint8_t *data, size_t size);

#endif
