/* engine.h: the CP engine, run by its monitor (cmd/cp.c) as a child process. */
#ifndef EVC_ENGINE_H
#define EVC_ENGINE_H

#include "conf.h"

/*
 * The monitor and its engine talk over a SOCK_SEQPACKET socket pair, one
 * line of text per packet, no newline:
 *
 *   monitor -> engine   "ping SEQ"          are you alive, and well?
 *                       "cmd TAG ACTION"    ACTION: unplug, fault, recover,
 *                                           status
 *   engine -> monitor   "pong SEQ ok|ko STATUS"
 *                       "done TAG ok|refused ok|ko TEXT"
 *
 * ok|ko is the engine's health (ko while a fault is simulated); STATUS is
 * one line of key=value words for people and scripts; TEXT answers the
 * action. The engine ends when the socket reaches EOF or on SIGTERM.
 */
#include "seal.h"

#define ENGINE_FD 3		/* where the monitor puts its end of the pair */
#define ENGINE_PACKET_MAX 512	/* longest packet either side sends */

/*
 * Runs the engine of CP id at location, talking to its monitor on fd.
 * Returns the exit status: 0 after SIGTERM or the monitor's loss,
 * EXIT_FAIL when Central refused the registration, EXIT_UNREACHABLE on a
 * fatal Kafka error. key (NULL: none) signs every message it sends, and
 * the commands and acks for this CP must carry its MAC.
 */
int engine_run(const struct conf *c, const char *id, const char *location,
	       int fd, struct seal_key *key);

#endif
