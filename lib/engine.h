/* engine.h: the CP engine, run by its monitor (cmd/cp.c) as a child process. */
#ifndef EVC_ENGINE_H
#define EVC_ENGINE_H

#include <stdint.h>

#include "conf.h"
#include "msg.h"

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
#define ENGINE_FD 3		/* where the monitor puts its end of the pair */
#define ENGINE_PACKET_MAX 512	/* longest packet either side sends */

/*
 * Runs the engine of CP id at location, talking to its monitor on fd.
 * Returns the exit status: 0 after SIGTERM or the monitor's loss,
 * EXIT_FAIL when Central refused the registration, EXIT_UNREACHABLE on a
 * fatal Kafka error.
 */
int engine_run(const struct conf *c, const char *id, const char *location,
	       int fd);

/*
 * The accounting of a supply, shared by evc cp and evc fleet so that both
 * bill alike. supply_limits() sets the energy target (Wh, 0: none) and
 * the duration (ms, -1: none) of a start, the configured defaults when it
 * names neither; the supply ends at the sooner. supply_energy() is the
 * energy after ms of supply at power_w, bounded by both.
 */
void supply_limits(const struct conf *c, long long power_w,
		   const struct msg_command *cmd, int64_t *target_wh,
		   long long *limit_ms);
int64_t supply_energy(long long power_w, int64_t target_wh,
		      long long limit_ms, long long ms);

#endif
