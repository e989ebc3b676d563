/* svc-order/order_db: driver errors to codes (asking a server that is not there), URI handling (no server). */
#include "comanda/rpc.pb-c.h"
#include "order_db.h"
#include "test.h"

TEST(order_db_driver_errors_map_to_codes)
{
	bson_error_t e = { .domain = MONGOC_ERROR_SERVER_SELECTION, .code = MONGOC_ERROR_SERVER_SELECTION_FAILURE };
	CHECK_EQ_INT(order_db_code(&e), COMANDA__CODE__UNAVAILABLE);
	e = (bson_error_t){ .domain = MONGOC_ERROR_STREAM, .code = MONGOC_ERROR_STREAM_SOCKET };
	CHECK_EQ_INT(order_db_code(&e), COMANDA__CODE__UNAVAILABLE);
	e = (bson_error_t){ .domain = MONGOC_ERROR_SERVER, .code = 11000 };
	CHECK_EQ_INT(order_db_code(&e), COMANDA__CODE__ALREADY_EXISTS);
	e = (bson_error_t){ .domain = MONGOC_ERROR_SERVER, .code = 238 };
	CHECK_EQ_INT(order_db_code(&e), COMANDA__CODE__INTERNAL);
	/* transient server errors: not primary, stepped down, shutting down,
	 * a network error on the server's side, its time limit */
	const uint32_t transient[] = { 6, 7, 50, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436 };
	for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++) {
		e = (bson_error_t){ .domain = MONGOC_ERROR_SERVER, .code = transient[i] };
		CHECK_EQ_INT(order_db_code(&e), COMANDA__CODE__UNAVAILABLE);
	}
	e = (bson_error_t){ .domain = MONGOC_ERROR_SERVER, .code = 1 }; /* InternalError */
	CHECK_EQ_INT(order_db_code(&e), COMANDA__CODE__INTERNAL);
}

TEST(order_db_open_takes_the_database_from_the_uri)
{
	CHECK(order_db_open("not a uri", 2, 500, 400, "unit-test") == NULL);
	order_db *db = order_db_open("mongodb://127.0.0.1:1/shop", 2, 500, 400, "unit-test");
	CHECK(db != NULL);
	if (db != NULL)
		CHECK_STREQ(order_db_name(db), "shop");
	/* Nothing listens on port 1: the probe fails within the timeout. */
	if (db != NULL)
		CHECK(!order_db_probe(db));
	order_db_close(db);
	db = order_db_open("mongodb://127.0.0.1:1", 2, 500, 400, "unit-test");
	if (db != NULL)
		CHECK_STREQ(order_db_name(db), "comanda_orders");
	order_db_close(db);
}

TEST(order_db_code_on_asks_the_server_about_its_internal_errors)
{
	mongoc_init();
	/* Nothing listens on port 1: the server cannot answer a ping. */
	mongoc_client_t *down = mongoc_client_new("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300&connectTimeoutMS=300");
	CHECK(down != NULL);
	if (down == NULL)
		return;
	mongoc_client_set_error_api(down, MONGOC_ERROR_API_VERSION_2);
	/* FerretDB's InternalError while its PostgreSQL is down */
	bson_error_t e = { .domain = MONGOC_ERROR_SERVER, .code = 1 };
	CHECK_EQ_INT(order_db_code_on(down, &e), COMANDA__CODE__UNAVAILABLE);
	/* a refusal's code, the same */
	e = (bson_error_t){ .domain = MONGOC_ERROR_SERVER, .code = 85 }; /* IndexOptionsConflict */
	CHECK_EQ_INT(order_db_code_on(down, &e), COMANDA__CODE__UNAVAILABLE);
	/* a write's error, in the collection's domain: the same as the server's */
	e = (bson_error_t){ .domain = MONGOC_ERROR_COLLECTION, .code = 1 };
	CHECK_EQ_INT(order_db_code_on(down, &e), COMANDA__CODE__UNAVAILABLE);
	/* the codes that tell by themselves need no ping */
	e = (bson_error_t){ .domain = MONGOC_ERROR_SERVER, .code = 11000 };
	CHECK_EQ_INT(order_db_code_on(down, &e), COMANDA__CODE__ALREADY_EXISTS);
	e = (bson_error_t){ .domain = MONGOC_ERROR_SERVER, .code = 91 };
	CHECK_EQ_INT(order_db_code_on(down, &e), COMANDA__CODE__UNAVAILABLE);
	/* a client-side failure is no outage: a wrong password fails the ping
	 * as well, and must stop the program, not keep it waiting */
	e = (bson_error_t){ .domain = MONGOC_ERROR_CLIENT, .code = MONGOC_ERROR_CLIENT_AUTHENTICATE };
	CHECK_EQ_INT(order_db_code_on(down, &e), COMANDA__CODE__INTERNAL);
	/* without a client, the code alone */
	e = (bson_error_t){ .domain = MONGOC_ERROR_SERVER, .code = 1 };
	CHECK_EQ_INT(order_db_code_on(NULL, &e), COMANDA__CODE__INTERNAL);
	mongoc_client_destroy(down);
}
