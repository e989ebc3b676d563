/*
 * testhttp: a minimal HTTP/1.1 client for unit tests that run a real server
 * (lib/httpd, the gateway's dispatch). It speaks over a raw socket, so a
 * test sees exactly the bytes a client would; no parsing beyond what tests
 * assert on.
 *
 * Threading: any thread; no shared state.
 */
#ifndef COMANDA_TESTHTTP_H
#define COMANDA_TESTHTTP_H

#include <stddef.h>

/* Connects to 127.0.0.1:port, sends raw[0..len) (stopping quietly if the
 * server closes early, as after an early 413) and reads until the server
 * closes. Returns the whole response, malloc'd and NUL-terminated (caller
 * frees), or NULL when the connection fails. Send "Connection: close". */
char *testhttp_exchange(int port, const char *raw, size_t len);

/* Builds "METHOD target HTTP/1.1" with Host, Connection: close, the extra
 * header lines ("Name: v\r\n"..., may be NULL) and, when body is not NULL,
 * Content-Length and the body; then testhttp_exchange. */
char *testhttp_request(int port, const char *method, const char *target, const char *extra_headers,
    const char *body);

/* The status code of a response, -1 when it is not HTTP/1.1. */
int testhttp_status(const char *resp);

/* Copies the value of header name (case-insensitive) into dst and returns
 * dst ("" when absent). */
const char *testhttp_header(const char *resp, const char *name, char *dst, size_t cap);

/* The body of a response ("" when none). */
const char *testhttp_body(const char *resp);

#endif
