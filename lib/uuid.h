/*
 * uuid: random (version 4) UUIDs for event ids and transaction ids.
 * Threading: any thread (libsodium's randombytes; sodium_init first).
 */
#ifndef COMANDA_UUID_H
#define COMANDA_UUID_H

#define UUID_STR_LEN 37 /* 36 characters and the NUL */

/* Writes a fresh "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" (lower-case) into out. */
void uuid_v4(char out[UUID_STR_LEN]);

#endif
