/*
 * gw_out: building the API's success JSON with json-c without leaking on a
 * failed allocation. The codecs (gw_user_codec, gw_order_codec,
 * gw_payment_codec) build every response object through these, so the
 * envelopes ({"success":true,"message"?,"<thing>":{...}} and the list shape
 * {"success":true,"count","<things>":[...],"next_cursor":"..."|null}) are
 * spelled once.
 *
 * The pattern: start with ok = true and o = json_object_new_object() (NULL
 * is fine), add members with gw_out_put* (each clears ok on any failure and
 * never leaks the value), finish with gw_out_done, which returns o or, when
 * anything failed, puts o and returns NULL. json_respond answers a NULL
 * object with a 500, so a handler needs no check of its own.
 *
 * Threading: pure functions; objects belong to the calling thread.
 */
#ifndef COMANDA_GW_OUT_H
#define COMANDA_GW_OUT_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

/* Adds key: v to o, taking v. A NULL o or v (a failed allocation upstream)
 * or a failed add clears *ok; v is put then. */
void gw_out_put(json_object *o, const char *key, json_object *v, bool *ok);

/* Adds key: null (a json-c NULL value). A NULL o or a failed add clears *ok. */
void gw_out_put_null(json_object *o, const char *key, bool *ok);

/* Adds key: s as a string, or null when s is NULL or "" (protobuf's
 * "not set" for strings). */
void gw_out_put_text(json_object *o, const char *key, const char *s, bool *ok);

/* Adds key: s as a string, or null when s is NULL (enum names: NULL is an
 * unset or unknown value). */
void gw_out_put_name(json_object *o, const char *key, const char *s, bool *ok);

/* o when ok, else NULL with o put. */
json_object *gw_out_done(json_object *o, bool ok);

/* {"success":true,"message":message,"<key>":thing}, taking thing; message
 * NULL is left out. NULL when out of memory (thing put). */
json_object *gw_out_reply(const char *message, const char *key, json_object *thing);

/* {"success":true,"count":<length of items>,"<key>":items,"next_cursor":c},
 * taking items (an array); c is next_cursor, or null when it is NULL or "".
 * NULL when out of memory or items is NULL (items put). */
json_object *gw_out_list(const char *key, json_object *items, const char *next_cursor);

/* A new empty array with room for n elements (at least 1), or NULL. */
json_object *gw_out_array(size_t n);

/* Appends v to array a, taking v; a NULL a or v, or a failed append clears
 * *ok (v put). */
void gw_out_append(json_object *a, json_object *v, bool *ok);

#endif
