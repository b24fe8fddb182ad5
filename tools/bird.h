/* A client of BIRD's control socket (the protocol birdc speaks), enough to
 * enable and disable a protocol and read the reply.
 *
 * BIRD answers every command with lines "CCCC-text" (more follows), " text"
 * (more of the same) and one final "CCCC text"; codes from 8000 up are
 * errors (8xxx run time, 9xxx parse). It greets a new client with
 * "0001 BIRD x.y ready.".
 */
#ifndef P53_BIRD_H
#define P53_BIRD_H

#include <stddef.h>

/* Sends cmd (one line, no newline) to the BIRD socket at path and reads the
 * whole reply, each line's text joined with "; " into out. Returns 0 when
 * the final code is below 8000; -1 otherwise (out then holds the reason:
 * BIRD's error text, or why the socket failed). timeout_ms bounds every
 * read and write. */
int bird_cmd(const char *path, const char *cmd, unsigned timeout_ms, char *out, size_t cap);

#endif
