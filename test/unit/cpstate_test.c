/* cpstate_test.c: unit tests of lib/cpstate.c: the last state of each CP kept, CPs dropped, the order by id. */
#include <stdio.h>
#include <string.h>

#include "lib/cpstate.h"
#include "test/unit/check.h"

static void keep(struct cpstate *cs, const char *cp, enum cp_state st,
		 int64_t ts)
{
	struct msg m;

	msg_init_at(&m, MSG_CP_STATE, ts);
	snprintf(m.cp, sizeof(m.cp), "%s", cp);
	m.u.state.state = st;
	cpstate_keep(cs, &m);
}

static bool ids_are(struct cpstate *cs, const char *want)
{
	const struct cpstate_row *const *rows = cpstate_sorted(cs);
	char got[256] = "";

	for (uint32_t i = 0; i < cs->n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s",
			 i ? " " : "", rows[i]->id);
	if (strcmp(got, want))
		printf("# sorted: '%s', want '%s'\n", got, want);
	return !strcmp(got, want);
}

static void test_drop(void)
{
	struct cpstate cs;

	cpstate_init(&cs);
	keep(&cs, "CP3", CP_ACTIVE, 1);
	keep(&cs, "CP1", CP_BROKEN, 2);
	keep(&cs, "CP2", CP_STOPPED, 3);
	keep(&cs, "CP1", CP_ACTIVE, 4);
	check(cs.n == 3 && cpstate_find(&cs, "CP1")->st.state == CP_ACTIVE &&
	      ids_are(&cs, "CP1 CP2 CP3"),
	      "the last state of each CP, sorted by id");
	cpstate_drop(&cs, "CP3");
	check(cs.n == 2 && !cpstate_find(&cs, "CP3") &&
	      cpstate_find(&cs, "CP1")->st.state == CP_ACTIVE &&
	      cpstate_find(&cs, "CP2")->st.state == CP_STOPPED &&
	      ids_are(&cs, "CP1 CP2"),
	      "a CP dropped is gone; the others are found, the order made again");
	keep(&cs, "CP4", CP_ACTIVE, 5);
	cpstate_drop(&cs, "CP1");
	check(cs.n == 2 && ids_are(&cs, "CP2 CP4"),
	      "a drop and an add between two sorts: the order follows");
	cpstate_drop(&cs, "CP9");
	check(cs.n == 2, "dropping a CP never read changes nothing");
	cpstate_drop(&cs, "CP4");
	cpstate_drop(&cs, "CP2");
	keep(&cs, "CP2", CP_BROKEN, 6);
	check(cs.n == 1 && cpstate_find(&cs, "CP2")->st.state == CP_BROKEN &&
	      ids_are(&cs, "CP2"), "a CP dropped can come back");
	cpstate_free(&cs);
}

int main(void)
{
	test_drop();
	return check_done();
}
