/*
 * order_stream: MongoDB connections whose waits end at the process's stop.
 *
 * mongo-c-driver 1.23 has no per-operation timeout and nothing that
 * interrupts a call: a client waits for a server that took a command and
 * went silent (a frozen FerretDB) for as long as its socketTimeoutMS, and
 * for its first hello as long as connectTimeoutMS. A stopping svc-order
 * would wait that long for its relay, its probe and its /status (10 s with
 * the default settings), and SIGTERM would not end a start-up waiting for
 * the indexes. Its stream initiator is the one seam the driver gives: the
 * streams made here are plain TCP sockets whose every wait (connect, send,
 * receive, the hello's poll) is a stopsig_poll, so it ends at the driver's
 * own timeout as before, or STOPSIG_GRACE_MS after SIGTERM when the server
 * has not answered by then (lib/stopsig.h). A wait cut so fails as a
 * timeout does (UNAVAILABLE for our callers).
 *
 * Only single-threaded clients take an initiator (1.23 has none for a
 * pool): the relay's, the probe's, /status's, the indexes'. The RPC
 * workers' pooled clients keep the driver's own streams; their waits are
 * bounded by the RPC deadline (order_db.h). A URI with TLS, or a UNIX
 * socket, keeps the driver's own streams too (not stop-aware: their waits
 * end at the driver's timeouts only).
 *
 * Threading: a stream belongs to its client (one thread at a time).
 */
#ifndef ORDER_STREAM_H
#define ORDER_STREAM_H

#include <mongoc/mongoc.h>

/* Makes client (single-threaded, from mongoc_client_new*) open its
 * connections with order_stream_initiator, unless its URI asks for TLS or
 * names a UNIX socket: those keep the driver's streams. */
void order_stream_use(mongoc_client_t *client);

/* The initiator itself (mongoc_stream_initiator_t; user_data unused): a
 * stop-aware TCP stream to host, connected within the URI's
 * connectTimeoutMS (and the stop's grace). NULL with *error set when the
 * connect fails. Exposed for tests. */
mongoc_stream_t *order_stream_initiator(const mongoc_uri_t *uri, const mongoc_host_list_t *host, void *user_data,
    bson_error_t *error);

#endif
