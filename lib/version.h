/*
 * version: the version every program reports (Health RPC, /status).
 * The build may override it: make EXTRA_CFLAGS=-DCOMANDA_VERSION=\"1.2.3\".
 */
#ifndef COMANDA_VERSION_H
#define COMANDA_VERSION_H

#ifndef COMANDA_VERSION
#define COMANDA_VERSION "0.1.0-dev"
#endif

#endif
