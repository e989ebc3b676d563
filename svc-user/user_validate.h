/*
 * user_validate: the rules of API.md for names, e-mails and passwords.
 * Each function returns NULL when the value is acceptable, else the issue
 * text for the field's detail ("must be 1-100 characters"). Pure; any thread.
 */
#ifndef COMANDA_USER_VALIDATE_H
#define COMANDA_USER_VALIDATE_H

#include <stddef.h>

#define USER_NAME_MAX_CHARS 100
#define USER_EMAIL_MAX 254
#define USER_PASSWORD_MIN_CHARS 8
#define USER_PASSWORD_MAX_CHARS 128

/* Trims ASCII white space from both ends of name into out (cap bytes) and
 * checks it: valid UTF-8, no control characters, 1..100 characters. */
const char *user_validate_name(const char *name, char *out, size_t cap);

/* Checks an e-mail address (local@domain, <= 254 bytes, no spaces or
 * control characters, a dotted domain of letters, digits and hyphens) and
 * writes it lower-cased into out (cap >= USER_EMAIL_MAX + 1). */
const char *user_validate_email(const char *email, char *out, size_t cap);

/* 8..128 characters of valid UTF-8. */
const char *user_validate_password(const char *password);

#endif
