/* The answer engine as one translation unit.
 *
 * The engine is written as units by role (answer_int.h lists them), but a
 * query runs through all of them once: built as one unit, their shared
 * functions stay static and the compiler inlines the per-query path as if
 * it were one file (measured in docs/benchmarks.md). The units are compiled
 * only through this file.
 */
#include "zones/answer/answer_int.h"

#include "zones/answer/query.c"

#include "zones/answer/decide.c"

#include "zones/answer/secure.c"

#include "zones/answer/encode.c"

#include "zones/answer/blob.c"

#include "zones/answer/prefetch.c"

#include "zones/answer/answer.c"
