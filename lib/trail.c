/* trail.c: the audit trail on Kafka: a record of lib/audit.h written to the topic audit. */
#include <stdio.h>

#include "log.h"
#include "trail.h"

int audit_post(struct bus *b, const struct audit_rec *r)
{
	char buf[AUDIT_MAX_BYTES], err[80];
	int len;

	if (audit_check(r, err, sizeof(err)))
		return error("cannot write the audit record of '%s': %s",
			     audit_action_name(r->action) ?
			     audit_action_name(r->action) : "?", err);
	if ((len = audit_encode(r, buf, sizeof(buf))) < 0)
		return error("cannot encode the audit record of '%s'",
			     audit_action_name(r->action));
	return bus_send_raw(b, T_AUDIT, r->subject, buf, (size_t)len);
}

int audit_finish(struct bus *b, struct audit_rec *r, int status,
		 int flush_ms)
{
	const char *name = audit_action_name(r->action);

	if (r->result == AUDIT_OK && status != EXIT_OK && bus_denied(b))
		audit_result(r, AUDIT_REFUSED, "not allowed by Kafka");
	else if (r->result == AUDIT_OK && status == EXIT_UNREACHABLE)
		audit_result(r, AUDIT_FAILED, "Kafka did not answer in time");
	else if (r->result == AUDIT_OK && status != EXIT_OK)
		audit_result(r, AUDIT_FAILED, "exit status %d", status);
	if (!audit_post(b, r) && !bus_flush(b, flush_ms)) {
		debug("audit: %s %s %s", name, r->subject,
		      audit_result_name(r->result));
		return status;
	}
	/* A failed action has said why; the same cause is why here. */
	if (status != EXIT_OK) {
		debug("audit: the record of '%s' was not written either",
		      name ? name : "?");
		return status;
	}
	error("the audit trail did not take the record of '%s'",
	      name ? name : "?");
	return EXIT_FAIL;
}

int audit_post_limited(struct bus *b, struct audit_limit *l,
		       struct audit_rec *r)
{
	char more[AUDIT_TEXT_MAX + 1];
	long held;

	if (!audit_limit_take(l, mono_ms(), &held))
		return 0;
	if (held) {
		snprintf(more, sizeof(more), "%s", r->detail);
		audit_detail(r, "%s%s%ld more like it not written", more,
			     more[0] ? "; " : "", held);
	}
	return audit_post(b, r);
}
