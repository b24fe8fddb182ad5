/* A set of UDP ports as a bitmap, and the reflection drop list: source
 * ports of services that answer anything sent to them (echo, chargen, NTP,
 * ...). A "query" from one of them is a spoofed packet aimed at making two
 * servers bounce traffic between each other, so both front ends (port53d
 * and port53 serve) drop it unanswered. docs/dataplane.md says why each
 * port is on the list.
 */
#ifndef P53_PORTSET_H
#define P53_PORTSET_H

#include <stdbool.h>
#include <stdint.h>

#define P53_PORTSET_DEFAULT_DROP                                                                   \
	"0,7,13,17,19,37,53,69,111,123,137,138,161,162,389,520,1900,3702,5353,11211"

struct p53_portset {
	uint64_t map[1024];
};

/* Replaces the set with a comma-separated list of ports and ranges
 * ("0,7,19,1024-1030"); "" or "none" empties it. 0, or P53_EINVAL with the
 * set unchanged. */
int p53_portset_parse(struct p53_portset *s, const char *list);

static inline bool p53_portset_has(const struct p53_portset *s, uint16_t port)
{
	return (s->map[port >> 6] >> (port & 63)) & 1;
}

#endif
