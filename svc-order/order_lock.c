#include "order_lock.h"

#include <pthread.h>
#include <stdint.h>

#define ORDER_LOCK_STRIPES 256

static pthread_mutex_t order_locks[ORDER_LOCK_STRIPES];
static pthread_once_t order_locks_once = PTHREAD_ONCE_INIT;

static void order_locks_init(void)
{
	for (int i = 0; i < ORDER_LOCK_STRIPES; i++)
		pthread_mutex_init(&order_locks[i], NULL);
}

/* The ObjectId's last bytes are its counter: they spread well. */
static pthread_mutex_t *order_stripe(const bson_oid_t *oid)
{
	pthread_once(&order_locks_once, order_locks_init);
	uint32_t h = (uint32_t)oid->bytes[11] | (uint32_t)oid->bytes[10] << 8 | (uint32_t)oid->bytes[9] << 16;
	h ^= (uint32_t)oid->bytes[4] * 2654435761u;
	return &order_locks[h % ORDER_LOCK_STRIPES];
}

void order_lock(const bson_oid_t *oid)
{
	pthread_mutex_lock(order_stripe(oid));
}

void order_unlock(const bson_oid_t *oid)
{
	pthread_mutex_unlock(order_stripe(oid));
}
