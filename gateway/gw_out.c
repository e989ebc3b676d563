/*
 * gw_out: leak-free JSON building for the API's responses. See gw_out.h.
 */
#include "gw_out.h"

#include <limits.h>

void gw_out_put(json_object *o, const char *key, json_object *v, bool *ok)
{
	if (o == NULL || v == NULL || json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		*ok = false;
	}
}

void gw_out_put_null(json_object *o, const char *key, bool *ok)
{
	/* JSON null is a NULL value in json-c: the add itself is the member */
	if (o == NULL || json_object_object_add(o, key, NULL) != 0)
		*ok = false;
}

void gw_out_put_text(json_object *o, const char *key, const char *s, bool *ok)
{
	if (s == NULL || s[0] == '\0')
		gw_out_put_null(o, key, ok);
	else
		gw_out_put(o, key, json_object_new_string(s), ok);
}

void gw_out_put_name(json_object *o, const char *key, const char *s, bool *ok)
{
	if (s == NULL)
		gw_out_put_null(o, key, ok);
	else
		gw_out_put(o, key, json_object_new_string(s), ok);
}

json_object *gw_out_done(json_object *o, bool ok)
{
	if (!ok || o == NULL) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

json_object *gw_out_reply(const char *message, const char *key, json_object *thing)
{
	bool ok = true;
	json_object *o = json_object_new_object();
	gw_out_put(o, "success", json_object_new_boolean(1), &ok);
	if (message != NULL)
		gw_out_put(o, "message", json_object_new_string(message), &ok);
	gw_out_put(o, key, thing, &ok);
	return gw_out_done(o, ok);
}

json_object *gw_out_list(const char *key, json_object *items, const char *next_cursor)
{
	bool ok = true;
	json_object *o = json_object_new_object();
	size_t n = items != NULL ? json_object_array_length(items) : 0;
	gw_out_put(o, "success", json_object_new_boolean(1), &ok);
	gw_out_put(o, "count", json_object_new_int64((int64_t)n), &ok);
	gw_out_put(o, key, items, &ok);
	gw_out_put_text(o, "next_cursor", next_cursor, &ok);
	return gw_out_done(o, ok);
}

json_object *gw_out_array(size_t n)
{
	/* json-c sizes arrays with an int; pages are at most 200 long */
	return json_object_new_array_ext(n == 0 ? 1 : n > INT_MAX ? INT_MAX : (int)n);
}

void gw_out_append(json_object *a, json_object *v, bool *ok)
{
	if (a == NULL || v == NULL || json_object_array_add(a, v) != 0) {
		json_object_put(v);
		*ok = false;
	}
}
