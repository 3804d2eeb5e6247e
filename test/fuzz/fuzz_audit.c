/* fuzz_audit.c: libFuzzer harness of audit_decode: any bytes as an audit record; no crash, no leak, a reason that is printable, and what is accepted valid and kept whole by a round trip. */
#include <stdint.h>
#include <string.h>

#include "lib/audit.h"
#include "lib/log.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz");
	fuzz_quiet(argc, argv);
	return 0;
}

/* An accepted record: valid, and a round trip keeps it whole. */
static void check_accepted(const struct audit_rec *r)
{
	char buf[AUDIT_MAX_BYTES], err[160], line[AUDIT_MAX_BYTES + 64];
	struct audit_rec back;
	int n;

	if (audit_check(r, err, sizeof(err)))
		fuzz_fail("a record accepted that audit_check refuses: %s", err);
	if ((n = audit_encode(r, buf, sizeof(buf))) < 0)
		fuzz_fail("an accepted record does not encode");
	if (audit_decode(buf, (size_t)n, &back, err, sizeof(err)))
		fuzz_fail("its encoding is refused: %s", err);
	if (memcmp(r, &back, sizeof(back)))
		fuzz_fail("a round trip changes the record");
	if (audit_format(r, line, sizeof(line)) < 0)
		fuzz_fail("an accepted record has no line for people");
	for (const char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			fuzz_fail("a control character in the line for people");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct audit_rec r;
	char err[160];

	if (audit_decode(data, size, &r, err, sizeof(err)) == 0)
		check_accepted(&r);
	else if (!err[0])
		fuzz_fail("a refusal without a reason");
	else
		for (const char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
				fuzz_fail("a reason that is not printable ASCII: byte 0x%02x",
					  (unsigned char)*p);
	return 0;
}
