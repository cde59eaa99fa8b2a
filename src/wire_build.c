/* SPDX-License-Identifier: ISC */
/*
 * The writing half of the PostgreSQL v3 wire protocol: a builder over a caller-owned buffer
 * with a sticky overflow flag, and one typed function per message weir itself originates
 * (to clients during login and errors, to servers during login and cancel). Messages that
 * weir only relays are never rebuilt here. It does not own the buffer or send anything.
 *
 * Entry points: wire_builder_init, wire_begin/wire_begin_untyped/wire_end, the wire_put_*
 * primitives, and the typed message functions declared in wire.h. Formats follow the
 * Frontend/Backend Protocol "Message Formats" section; all integers are big-endian.
 */
#include <string.h>

#include "wire.h"

/* A message's length is an int32 on the wire. */
#define WIRE_MAX_MSG_LEN 0x7fffffffu
/* Length sent in SASLInitialResponse when there is no initial response. */
#define WIRE_NO_DATA 0xffffffffu

void wire_builder_init(struct wire_builder *b, void *buf, size_t cap)
{
	b->buf = buf;
	b->cap = buf ? cap : 0;
	b->len = 0;
	b->msg_start = 0;
	b->overflow = false;
}

bool wire_builder_ok(const struct wire_builder *b)
{
	return !b->overflow;
}

/* Room for n more bytes, else the builder is marked overflowed for good. */
static bool reserve(struct wire_builder *b, size_t n)
{
	if (b->overflow || n > b->cap - b->len) {
		b->overflow = true;
		return false;
	}
	return true;
}

static void store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void wire_put_bytes(struct wire_builder *b, const void *p, size_t n)
{
	if (!reserve(b, n) || n == 0)
		return;
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

void wire_put_u8(struct wire_builder *b, uint8_t v)
{
	wire_put_bytes(b, &v, 1);
}

void wire_put_u16(struct wire_builder *b, uint16_t v)
{
	uint8_t be[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	wire_put_bytes(b, be, sizeof(be));
}

void wire_put_u32(struct wire_builder *b, uint32_t v)
{
	uint8_t be[4];

	store_be32(be, v);
	wire_put_bytes(b, be, sizeof(be));
}

void wire_put_cstring(struct wire_builder *b, const char *s)
{
	wire_put_bytes(b, s, strlen(s) + 1);
}

void wire_begin(struct wire_builder *b, uint8_t type)
{
	wire_put_u8(b, type);
	wire_begin_untyped(b);
}

void wire_begin_untyped(struct wire_builder *b)
{
	b->msg_start = b->len;
	wire_put_u32(b, 0); /* patched by wire_end */
}

void wire_end(struct wire_builder *b)
{
	size_t n;

	if (b->overflow || b->len - b->msg_start < 4)
		return;
	n = b->len - b->msg_start;
	if (n > WIRE_MAX_MSG_LEN) {
		b->overflow = true;
		return;
	}
	store_be32(b->buf + b->msg_start, (uint32_t)n);
}

/* ---- messages to clients ---- */

void wire_auth_request(struct wire_builder *b, enum wire_auth_code code, const void *data,
		       size_t len)
{
	wire_begin(b, 'R');
	wire_put_u32(b, (uint32_t)code);
	if (data)
		wire_put_bytes(b, data, len);
	wire_end(b);
}

void wire_auth_sasl_mechanisms(struct wire_builder *b, const char *const *mechs, size_t n)
{
	wire_begin(b, 'R');
	wire_put_u32(b, WIRE_AUTH_SASL);
	for (size_t i = 0; i < n; i++)
		wire_put_cstring(b, mechs[i]);
	wire_put_u8(b, 0);
	wire_end(b);
}

void wire_parameter_status(struct wire_builder *b, const char *name, const char *value)
{
	wire_begin(b, 'S');
	wire_put_cstring(b, name);
	wire_put_cstring(b, value);
	wire_end(b);
}

void wire_backend_key_data(struct wire_builder *b, uint32_t pid, uint32_t key)
{
	wire_begin(b, 'K');
	wire_put_u32(b, pid);
	wire_put_u32(b, key);
	wire_end(b);
}

void wire_ready_for_query(struct wire_builder *b, char status)
{
	wire_begin(b, 'Z');
	wire_put_u8(b, (uint8_t)status);
	wire_end(b);
}

/* ErrorResponse and NoticeResponse share their fields; V is S never localized. */
void wire_report(struct wire_builder *b, uint8_t type, const char *severity, const char *sqlstate,
		 const char *message, const char *detail)
{
	wire_begin(b, type);
	wire_put_u8(b, 'S');
	wire_put_cstring(b, severity);
	wire_put_u8(b, 'V');
	wire_put_cstring(b, severity);
	wire_put_u8(b, 'C');
	wire_put_cstring(b, sqlstate);
	wire_put_u8(b, 'M');
	wire_put_cstring(b, message);
	if (detail) {
		wire_put_u8(b, 'D');
		wire_put_cstring(b, detail);
	}
	wire_put_u8(b, 0);
	wire_end(b);
}

void wire_error(struct wire_builder *b, const char *severity, const char *sqlstate,
		const char *message)
{
	wire_report(b, 'E', severity, sqlstate, message, NULL);
}

void wire_notice(struct wire_builder *b, const char *message)
{
	wire_report(b, 'N', "NOTICE", "00000", message, NULL);
}

void wire_negotiate_protocol(struct wire_builder *b, uint32_t newest_version,
			     const char *const *unknown_opts, size_t n)
{
	wire_begin(b, 'v');
	wire_put_u32(b, newest_version);
	if (n > WIRE_MAX_MSG_LEN)
		b->overflow = true;
	wire_put_u32(b, (uint32_t)n);
	for (size_t i = 0; i < n && !b->overflow; i++)
		wire_put_cstring(b, unknown_opts[i]);
	wire_end(b);
}

void wire_command_complete(struct wire_builder *b, const char *tag)
{
	wire_begin(b, 'C');
	wire_put_cstring(b, tag);
	wire_end(b);
}

void wire_empty_query_response(struct wire_builder *b)
{
	wire_begin(b, 'I');
	wire_end(b);
}

/* ---- messages to servers ---- */

void wire_startup(struct wire_builder *b, const char *const *names, const char *const *values,
		  size_t n)
{
	wire_begin_untyped(b);
	wire_put_u32(b, WIRE_PROTO_V3);
	for (size_t i = 0; i < n && !b->overflow; i++) {
		wire_put_cstring(b, names[i]);
		wire_put_cstring(b, values[i]);
	}
	wire_put_u8(b, 0);
	wire_end(b);
}

void wire_password(struct wire_builder *b, const char *password)
{
	wire_begin(b, 'p');
	wire_put_cstring(b, password);
	wire_end(b);
}

void wire_sasl_initial_response(struct wire_builder *b, const char *mech, const void *data,
				size_t len)
{
	wire_begin(b, 'p');
	wire_put_cstring(b, mech);
	if (!data) {
		wire_put_u32(b, WIRE_NO_DATA);
	} else if (len > WIRE_MAX_MSG_LEN) {
		b->overflow = true;
	} else {
		wire_put_u32(b, (uint32_t)len);
		wire_put_bytes(b, data, len);
	}
	wire_end(b);
}

void wire_sasl_response(struct wire_builder *b, const void *data, size_t len)
{
	wire_begin(b, 'p');
	wire_put_bytes(b, data, len);
	wire_end(b);
}

void wire_query(struct wire_builder *b, const char *sql)
{
	wire_begin(b, 'Q');
	wire_put_cstring(b, sql);
	wire_end(b);
}

void wire_terminate(struct wire_builder *b)
{
	wire_begin(b, 'X');
	wire_end(b);
}

void wire_cancel_request(struct wire_builder *b, uint32_t pid, uint32_t key)
{
	wire_begin_untyped(b);
	wire_put_u32(b, WIRE_CANCEL_CODE);
	wire_put_u32(b, pid);
	wire_put_u32(b, key);
	wire_end(b);
}

void wire_ssl_request(struct wire_builder *b)
{
	wire_begin_untyped(b);
	wire_put_u32(b, WIRE_SSL_CODE);
	wire_end(b);
}
