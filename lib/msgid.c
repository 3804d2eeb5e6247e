/* msgid.c: fresh message and session ids: 32 hex digits from a per-thread pool of kernel randomness. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "msg.h"

/* Random bytes from the kernel; getrandom(2) needs no file descriptor. */
static int random_bytes(unsigned char *p, size_t n)
{
	size_t got = 0;
	ssize_t r;
	int fd;

	while (got < n) {
		r = getrandom(p + got, n - got, 0);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0 || errno != EINTR)
			break;
	}
	if (got == n)
		return 0;
	if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	for (got = 0; got < n;) {
		r = read(fd, p + got, n - got);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0 || errno != EINTR)
			break;
	}
	close(fd);
	return got == n ? 0 : -1;
}

/*
 * Without any kernel randomness (a broken sandbox), ids must still not
 * repeat: the clock, the pid and a counter, mixed by splitmix64.
 */
static void weak_bytes(unsigned char *p, size_t n)
{
	static uint64_t counter;
	struct timespec ts;
	uint64_t x;

	clock_gettime(CLOCK_REALTIME, &ts);
	x = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	x ^= (uint64_t)getpid() << 32 ^ ++counter * 0x9e3779b97f4a7c15u;
	for (size_t i = 0; i < n; i += 8) {
		uint64_t z = (x += 0x9e3779b97f4a7c15u);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
		z ^= z >> 31;
		memcpy(p + i, &z, n - i < 8 ? n - i : 8);
	}
}

/*
 * Ids take their bytes from a pool that one getrandom(2) fills for 256
 * ids, not one system call per id. Each thread has its own pool, a
 * child process forgets its parent's at fork (or parent and child would
 * hand out the same ids), and each byte is wiped once used.
 */
#define POOL_BYTES 4096

static _Thread_local struct {
	unsigned char b[POOL_BYTES];
	size_t left;
} pool;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_forget(void)
{
	pool.left = 0;	/* in the child, the forking thread's pool */
}

static void pool_init(void)
{
	pthread_atfork(NULL, NULL, pool_forget);
}

static int pool_take(unsigned char *p, size_t n)
{
	unsigned char *from;

	pthread_once(&pool_once, pool_init);
	if (pool.left < n) {
		if (random_bytes(pool.b, sizeof(pool.b)))
			return -1;
		pool.left = sizeof(pool.b);
	}
	from = pool.b + sizeof(pool.b) - pool.left;
	memcpy(p, from, n);
	memset(from, 0, n);
	pool.left -= n;
	return 0;
}

void msg_new_uuid(char out[MSG_UUID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	static int warned;
	unsigned char r[MSG_UUID_LEN / 2];

	if (pool_take(r, sizeof(r))) {
		if (!warned++)
			warn("cannot read random bytes: %s", strerror(errno));
		weak_bytes(r, sizeof(r));
	}
	for (size_t i = 0; i < sizeof(r); i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[MSG_UUID_LEN] = '\0';
}
