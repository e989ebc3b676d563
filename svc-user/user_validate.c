#include "user_validate.h"

#include "utf8.h"

#include <stdbool.h>
#include <string.h>

static bool user_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

const char *user_validate_name(const char *name, char *out, size_t cap)
{
	const char *b = name, *e = name + strlen(name);
	while (b < e && user_is_space(*b))
		b++;
	while (e > b && user_is_space(e[-1]))
		e--;
	size_t n = (size_t)(e - b);
	if (n == 0)
		return "must not be empty";
	if (n >= cap)
		return "must be at most 100 characters";
	memcpy(out, b, n);
	out[n] = '\0';
	bool blank;
	long chars = utf8_text(out, n, &blank);
	if (chars == UTF8_TEXT_CONTROL)
		return "must not contain control characters";
	if (chars < 0)
		return "must be valid UTF-8";
	if (blank) /* only spaces that trimming does not take (U+00A0, U+3000...) */
		return "must not be empty";
	if (chars > USER_NAME_MAX_CHARS)
		return "must be at most 100 characters";
	return NULL;
}

static bool user_domain_ok(const char *d)
{
	size_t label = 0, labels = 0;
	char prev = '.';
	for (const char *p = d;; p++) {
		char c = *p;
		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || prev == '-')
				return false;
			labels++;
			label = 0;
			if (c == '\0')
				break;
		} else {
			bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
			if (!alnum && !(c == '-' && label > 0))
				return false;
			label++;
		}
		prev = c;
	}
	return labels >= 2;
}

const char *user_validate_email(const char *email, char *out, size_t cap)
{
	size_t n = strlen(email);
	if (n == 0)
		return "must not be empty";
	if (n > USER_EMAIL_MAX || n >= cap)
		return "must be at most 254 characters";
	for (size_t i = 0; i < n; i++) {
		char c = email[i];
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[n] = '\0';
	const char *at = strchr(out, '@');
	if (at == NULL || at == out || strchr(at + 1, '@') != NULL)
		return "must be a valid e-mail address";
	size_t local = (size_t)(at - out);
	if (local > 64 || out[0] == '.' || at[-1] == '.' || strstr(out, "..") != NULL)
		return "must be a valid e-mail address";
	for (size_t i = 0; i < local; i++) {
		unsigned char c = (unsigned char)out[i];
		/* printable ASCII except the specials that need quoting */
		if (c <= 0x20 || c >= 0x7f || strchr("()<>[]:;,\\\"", c) != NULL)
			return "must be a valid e-mail address";
	}
	if (!user_domain_ok(at + 1))
		return "must be a valid e-mail address";
	return NULL;
}

const char *user_validate_password(const char *password)
{
	long chars = utf8_chars(password);
	if (chars < 0)
		return "must be valid UTF-8";
	if (chars < USER_PASSWORD_MIN_CHARS)
		return "must be at least 8 characters";
	if (chars > USER_PASSWORD_MAX_CHARS)
		return "must be at most 128 characters";
	return NULL;
}
