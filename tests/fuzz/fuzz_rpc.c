/*
 * fuzz_rpc: the RPC server's decode-and-dispatch path (lib/rpc.c rpc_serve:
 * RpcRequest envelope, method lookup, body decode, handler, reply packing).
 *
 * Once per process an rpc_server serves the Echo test service
 * (proto/comanda/testing.proto) on inproc:// with two workers; a raw NNG REQ
 * socket (as tests/unit/lib/test_rpc.c does) then sends, for every input:
 *   1. the input itself as one request frame;
 *   2. a well-formed envelope for comanda.Echo/Echo whose body is the input
 *      (reaches the body decoder and the handler far more often).
 *
 * Oracles beyond the sanitizers (which see the worker threads too):
 *   - a reply always comes back (within FUZZ_RPC_REPLY_MS) and decodes as a
 *     comanda.RpcReply;
 *   - its code is what the frame deserves: INVALID_ARGUMENT for a frame or
 *     body that does not decode, UNIMPLEMENTED for an unknown service or
 *     method and for Echo/Unimplemented, else the handler's answer (OK with
 *     the text echoed, or the fail_code asked for);
 *   - an OK reply's body decodes as an EchoReply;
 *   - the method name, which the server puts in its metrics as a label
 *     value, is escaped there (Prometheus text format 0.0.4: backslash,
 *     quote, newline), so a frame cannot inject series into /metrics:
 *     checked (by rendering the metrics) for method names that need it.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "fuzz_common.h"
#include "comanda/testing.rpc.h"
#include "metrics.h"
#include "rpc.h"

#define FUZZ_RPC_URL "inproc://comanda-fuzz-rpc"
#define FUZZ_RPC_REPLY_MS 10000
#define FUZZ_RPC_ECHO "comanda.Echo/Echo"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static rpc_server *fuzz_server;
static nng_socket fuzz_req;

/* FUZZ_SKIP_KNOWN=1: skip the metrics-label oracle, whose finding is known
 * (tests/fuzz/README.md). */
static bool fuzz_skip_known;

/* The Echo handler of test_rpc.c, without the sleep (a fuzzer must not wait). */
static int fuzz_echo(rpc_ctx *ctx, const Comanda__EchoRequest *req, Comanda__EchoReply *reply)
{
	if (req->fail_code) {
		rpc_ctx_detail(ctx, "text", "is not acceptable");
		rpc_ctx_reason(ctx, "ECHO_REFUSED");
		return rpc_ctx_error(ctx, req->fail_code, "echo refused: %s", req->text);
	}
	reply->text = rpc_ctx_strdup(ctx, req->text);
	reply->request_id = rpc_ctx_strdup(ctx, rpc_ctx_request_id(ctx));
	reply->caller_id = rpc_ctx_caller_id(ctx);
	reply->worker = (uint32_t)rpc_ctx_worker_index(ctx);
	(void)rpc_ctx_remaining_ms(ctx);
	(void)rpc_ctx_idempotency_key(ctx);
	(void)rpc_ctx_caller_role(ctx);
	(void)rpc_ctx_method(ctx);
	return COMANDA__CODE__OK;
}

static const echo_impl fuzz_echo_impl = { .echo = fuzz_echo, .unimplemented = NULL };

static void fuzz_die(const char *what, int rv)
{
	fprintf(stderr, "fuzz_rpc: %s%s%s\n", what, rv ? ": " : "", rv ? nng_strerror(rv) : "");
	abort();
}

static void fuzz_stop(void)
{
	nng_close(fuzz_req);
	rpc_server_close(fuzz_server);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	rpc_server_config cfg = { .url = FUZZ_RPC_URL, .workers = 2, .name = "fuzz-echo" };
	if (rpc_server_open(&fuzz_server, &cfg) != 0 || rpc_server_add(fuzz_server, &echo_binding, &fuzz_echo_impl) != 0 ||
	    rpc_server_start(fuzz_server) != 0)
		fuzz_die("cannot start the Echo server", 0);
	int rv;
	if ((rv = nng_req0_open(&fuzz_req)) != 0)
		fuzz_die("nng_req0_open", rv);
	/* at most once, as rpc_client: a lost reply is a finding, not a resend */
	nng_socket_set_ms(fuzz_req, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_ms(fuzz_req, NNG_OPT_RECVTIMEO, FUZZ_RPC_REPLY_MS);
	nng_socket_set_ms(fuzz_req, NNG_OPT_SENDTIMEO, FUZZ_RPC_REPLY_MS);
	if ((rv = nng_dial(fuzz_req, FUZZ_RPC_URL, NULL, 0)) != 0)
		fuzz_die("nng_dial", rv);
	atexit(fuzz_stop);
	fuzz_skip_known = fuzz_skip_known_from_env();
	return 0;
}

/* A frame's method name is client text: it must never reach a metrics
 * label as it is (lib/rpc.c labels only the methods it serves, others as
 * "unknown"), or one frame could add lines to /metrics. */
static void fuzz_check_metrics_label(const uint8_t *frame, size_t len)
{
	if (fuzz_skip_known)
		return;
	Comanda__RpcRequest *env = comanda__rpc_request__unpack(NULL, len, frame);
	if (env == NULL)
		return;
	char name[128];
	snprintf(name, sizeof(name), "%s", env->method != NULL ? env->method : "");
	comanda__rpc_request__free_unpacked(env, NULL);
	if (strpbrk(name, "\\\"\n") == NULL)
		return;
	/* The whole label value with what follows it: a name that is a served
	 * method plus a quote ("comanda.Echo/Echo\"") is labelled "unknown",
	 * but its prefix matches the served method's honest label. */
	char raw[sizeof(name) + 24];
	snprintf(raw, sizeof(raw), "method=\"%s\",code=\"", name);
	size_t tlen = 0;
	char *text = metrics_render(&tlen);
	if (text == NULL)
		return;
	bool injected = strstr(text, raw) != NULL;
	free(text);
	if (injected) {
		fprintf(stderr, "fuzz_rpc: a client's method name reached a metrics label (lib/rpc.c rpc_observe)\n"
		                "  label: %s\n", raw);
		abort();
	}
}

/* What rpc_serve must answer to frame[0..len), by decoding it here the same
 * way (protobuf-c, C-string method names). */
static int fuzz_expected(const uint8_t *frame, size_t len)
{
	Comanda__RpcRequest *env = comanda__rpc_request__unpack(NULL, len, frame);
	if (env == NULL || env->method == NULL) {
		if (env != NULL)
			comanda__rpc_request__free_unpacked(env, NULL);
		return COMANDA__CODE__INVALID_ARGUMENT;
	}
	int want;
	const char *slash = strchr(env->method, '/');
	const char *svc = comanda__echo__descriptor.name;
	if (slash == NULL || (size_t)(slash - env->method) != strlen(svc) ||
	    memcmp(env->method, svc, strlen(svc)) != 0 ||
	    (strcmp(slash + 1, "Echo") != 0 && strcmp(slash + 1, "Unimplemented") != 0)) {
		want = COMANDA__CODE__UNIMPLEMENTED;
	} else {
		Comanda__EchoRequest *rq = comanda__echo_request__unpack(NULL, env->body.len, env->body.data);
		if (rq == NULL)
			want = COMANDA__CODE__INVALID_ARGUMENT;
		else if (strcmp(slash + 1, "Unimplemented") == 0)
			want = COMANDA__CODE__UNIMPLEMENTED;
		else
			want = rq->fail_code; /* 0 is OK */
		if (rq != NULL)
			comanda__echo_request__free_unpacked(rq, NULL);
	}
	comanda__rpc_request__free_unpacked(env, NULL);
	return want;
}

/* Sends one frame, waits for the reply and judges it. */
static void fuzz_exchange(const uint8_t *frame, size_t len)
{
	nng_msg *msg;
	int rv = nng_msg_alloc(&msg, len);
	if (rv != 0)
		fuzz_die("nng_msg_alloc", rv);
	if (len > 0)
		memcpy(nng_msg_body(msg), frame, len);
	if ((rv = nng_sendmsg(fuzz_req, msg, 0)) != 0)
		fuzz_die("cannot send a request", rv);
	nng_msg *in = NULL;
	if ((rv = nng_recvmsg(fuzz_req, &in, 0)) != 0)
		fuzz_die("no reply to a request frame", rv);

	Comanda__RpcReply *rep = comanda__rpc_reply__unpack(NULL, nng_msg_len(in), nng_msg_body(in));
	if (rep == NULL)
		fuzz_die("the reply is not an RpcReply", 0);
	int want = fuzz_expected(frame, len);
	if ((int)rep->code != want) {
		fprintf(stderr, "fuzz_rpc: reply code %d (%s), expected %d (%s); message \"%s\"\n", (int)rep->code,
		    rpc_code_name(rep->code), want, rpc_code_name(want), rep->message ? rep->message : "");
		abort();
	}
	if (rep->code == COMANDA__CODE__OK) {
		Comanda__EchoReply *er = comanda__echo_reply__unpack(NULL, rep->body.len, rep->body.data);
		if (er == NULL)
			fuzz_die("an OK reply whose body is not an EchoReply", 0);
		comanda__echo_reply__free_unpacked(er, NULL);
	} else if (rep->body.len != 0) {
		fuzz_die("an error reply with a body", 0);
	}
	comanda__rpc_reply__free_unpacked(rep, NULL);
	nng_msg_free(in);
	fuzz_check_metrics_label(frame, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* 1. the input as a frame */
	fuzz_exchange(data, size);

	/* 2. the input as the body of an Echo/Echo request */
	Comanda__RpcRequest env = COMANDA__RPC_REQUEST__INIT;
	env.method = FUZZ_RPC_ECHO;
	env.request_id = "fuzz";
	env.timeout_ms = 5000;
	env.caller_id = 7;
	env.caller_role = COMANDA__ROLE__ROLE_CUSTOMER;
	env.body.data = (uint8_t *)(uintptr_t)data;
	env.body.len = size;
	size_t n = comanda__rpc_request__get_packed_size(&env);
	uint8_t *buf = malloc(n);
	if (buf == NULL)
		return 0;
	comanda__rpc_request__pack(&env, buf);
	fuzz_exchange(buf, n);
	free(buf);
	return 0;
}
