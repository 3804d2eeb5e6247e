/* fuzz_catalogue.c: libFuzzer harness of catalogue_load: any bytes as cps.yaml; no crash, no leak, no bad entry kept. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "lib/conf.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz");
	fuzz_quiet(argc, argv);
	fuzz_file_init("cps.yaml");
	return 0;
}

/* What a successful load promises (evc.yaml(5), CATALOGUE). */
static void check_loaded(const struct catalogue *cat)
{
	for (unsigned i = 0; i < cat->ncps; i++) {
		const struct cp_entry *e = &cat->cps[i];

		if (!msg_cp_id_ok(e->id))
			fuzz_fail("CP id '%s' accepted", e->id);
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(e->id, cat->cps[j].id))
				fuzz_fail("CP id '%s' accepted twice", e->id);
		if (!e->location || !fuzz_text_ok(e->location))
			fuzz_fail("location of '%s' accepted with a control character",
				  e->id);
		if (!isfinite(e->price) || e->price < 0)
			fuzz_fail("price %g of '%s' accepted", e->price, e->id);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct catalogue cat;
	int r;

	fuzz_write(data, size);
	fuzz_capture_begin();
	r = catalogue_load(&cat, fuzz_path());
	fuzz_check_messages(fuzz_capture_end(), fuzz_path(), data, size);
	if (r == 0)
		check_loaded(&cat);
	else if (!fuzz_captured()[0])
		fuzz_fail("a failed load said nothing");
	else if (strchr(fuzz_captured(), '\n') + 1 !=
		 fuzz_captured() + strlen(fuzz_captured()))
		fuzz_fail("a failed load said more than one line: '%s'",
			  fuzz_captured());
	else if (cat.cps || cat.ncps)
		fuzz_fail("a failed load left entries behind");
	catalogue_free(&cat);
	return 0;
}
