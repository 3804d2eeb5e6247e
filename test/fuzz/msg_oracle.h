/* msg_oracle.h: what lib/jscan.c and msg_decode must answer for any bytes, as jansson and msg.c's one table say it. */
#ifndef EVC_MSG_ORACLE_H
#define EVC_MSG_ORACLE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/msg.h"

/*
 * jansson's parse of the bytes, as evc read them before it had a scanner
 * of its own (NULL: refused); the caller frees it with json_decref().
 */
json_t *oracle_parse(const uint8_t *data, size_t size);

/*
 * Holds jscan() against root, the parse of the same bytes: the same
 * verdict, and for every key it notes the same value. Fails (abort)
 * where they differ.
 */
void oracle_check_scan(const uint8_t *data, size_t size, const json_t *root);

/*
 * What msg_decode must make of root, an accepted document: the struct
 * and 0, or -1 and the reason, word for word; read from jansson's tree
 * by the one table of lib/msg.c (lib/msg_table.h).
 */
int oracle_decode(const json_t *root, struct msg *m, char *err, size_t n);

#endif
