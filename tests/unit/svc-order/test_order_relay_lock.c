/* svc-order/order_relay_lock: holder names (the lock itself needs a server:
 * tests/integration/order_relay_live.c). */
#include <string.h>
#include <unistd.h>

#include "order_relay_lock.h"
#include "test.h"

TEST(order_relay_lock_holders_are_host_pid_uuid_and_unique)
{
	char a[ORDER_RELAY_LOCK_HOLDER_MAX], b[ORDER_RELAY_LOCK_HOLDER_MAX];
	order_relay_lock_holder(a, sizeof(a));
	order_relay_lock_holder(b, sizeof(b));
	CHECK(strcmp(a, b) != 0);
	char pid[32];
	snprintf(pid, sizeof(pid), "/%ld/", (long)getpid());
	CHECK(strstr(a, pid) != NULL);
	const char *id = strrchr(a, '/');
	CHECK(id != NULL && strlen(id + 1) == 36);
	/* a short buffer gets a truncated, terminated name */
	char tiny[8];
	order_relay_lock_holder(tiny, sizeof(tiny));
	CHECK_EQ_INT((long long)strlen(tiny), 7);
}
