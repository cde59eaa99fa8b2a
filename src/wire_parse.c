/* SPDX-License-Identifier: ISC */
/*
 * The reading half of the PostgreSQL v3 wire protocol. Owns the bounded reader that every
 * parser in weir goes through, the checks on message headers (typed and startup-phase), the
 * walk over StartupMessage parameters and the parsing of ErrorResponse/NoticeResponse
 * bodies. It does not own buffers or sockets: callers hand in bytes they already hold.
 *
 * Entry points: wire_reader_init and the wire_get_* getters; wire_typed_header and
 * wire_untyped_header; wire_startup_next_param; wire_parse_error.
 *
 * All integers on the wire are big-endian. A length field counts itself but not the type
 * byte (Frontend/Backend Protocol, "Message Formats"); lengths are checked against limits
 * before any arithmetic so that no peer-supplied value can wrap a size.
 */
#include <string.h>

#include "wire.h"

/* Lengths are int32 on the wire; anything above this would be negative there. */
#define WIRE_MAX_LEN 0x7fffffffu

/* Stands in for a NULL data pointer so that getters never offset a null pointer. */
static const uint8_t empty_packet[1];

void wire_reader_init(struct wire_reader *r, const void *data, size_t len)
{
	r->data = data ? data : empty_packet;
	r->len = data ? len : 0;
	r->pos = 0;
	r->failed = false;
}

size_t wire_remaining(const struct wire_reader *r)
{
	return r->len - r->pos;
}

bool wire_reader_ok(const struct wire_reader *r)
{
	return !r->failed;
}

/* Claims n bytes at the current position; NULL (and failed) if they are not all there. */
static const uint8_t *take(struct wire_reader *r, size_t n)
{
	const uint8_t *p;

	if (r->failed || n > wire_remaining(r)) {
		r->failed = true;
		return NULL;
	}
	p = r->data + r->pos;
	r->pos += n;
	return p;
}

static uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint8_t wire_get_u8(struct wire_reader *r)
{
	const uint8_t *p = take(r, 1);

	return p ? p[0] : 0;
}

uint16_t wire_get_u16(struct wire_reader *r)
{
	const uint8_t *p = take(r, 2);

	return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

uint32_t wire_get_u32(struct wire_reader *r)
{
	const uint8_t *p = take(r, 4);

	return p ? load_be32(p) : 0;
}

const char *wire_get_cstring(struct wire_reader *r)
{
	const uint8_t *start, *nul;

	if (r->failed)
		return NULL;
	start = r->data + r->pos;
	nul = memchr(start, '\0', wire_remaining(r));
	if (!nul) {
		r->failed = true;
		return NULL;
	}
	r->pos += (size_t)(nul - start) + 1;
	return (const char *)start;
}

const uint8_t *wire_get_bytes(struct wire_reader *r, size_t n)
{
	return take(r, n);
}

enum wire_hdr_result wire_typed_header(const uint8_t *buf, size_t avail, uint32_t max_len,
				       uint8_t *type, uint32_t *len)
{
	uint32_t n;

	if (avail < 5)
		return WIRE_HDR_NEED_MORE;
	n = load_be32(buf + 1);
	if (n < 4 || n > max_len || n > WIRE_MAX_LEN)
		return WIRE_HDR_BAD;
	*type = buf[0];
	*len = n;
	return WIRE_HDR_OK;
}

enum wire_hdr_result wire_untyped_header(const uint8_t *buf, size_t avail, uint32_t max_len,
					 uint32_t *len)
{
	uint32_t n;

	if (avail < 4)
		return WIRE_HDR_NEED_MORE;
	n = load_be32(buf);
	/* 8 = the length itself plus the int32 protocol or request code every such packet has */
	if (n < 8 || n > max_len || n > WIRE_MAX_LEN)
		return WIRE_HDR_BAD;
	*len = n;
	return WIRE_HDR_OK;
}

bool wire_startup_next_param(struct wire_reader *r, const char **name, const char **value)
{
	const char *n = wire_get_cstring(r);

	*name = NULL;
	*value = NULL;
	if (!n)
		return false;
	if (n[0] == '\0') {
		/* The list ends with an empty name, which must be the last byte of the packet. */
		if (wire_remaining(r) != 0)
			r->failed = true;
		return false;
	}
	*value = wire_get_cstring(r);
	if (!*value)
		return false;
	*name = n;
	return true;
}

/* Stores a field's value where it belongs; unknown field types are skipped as the docs ask. */
static void store_error_field(struct wire_error_fields *out, uint8_t type, const char *value,
			      const char **sev_s, const char **sev_v)
{
	switch (type) {
	case 'S':
		*sev_s = value;
		break;
	case 'V':
		*sev_v = value;
		break;
	case 'C':
		out->sqlstate = value;
		break;
	case 'M':
		out->message = value;
		break;
	case 'D':
		out->detail = value;
		break;
	case 'H':
		out->hint = value;
		break;
	default:
		break;
	}
}

/*
 * Body: a sequence of (type byte, cstring) ending with a zero type byte that must be the
 * last byte. V (never localized) is preferred to S for the severity.
 */
bool wire_parse_error(const void *body, size_t len, struct wire_error_fields *out)
{
	struct wire_reader r;
	const char *sev_s = NULL, *sev_v = NULL;
	uint8_t type;

	memset(out, 0, sizeof(*out));
	wire_reader_init(&r, body, len);
	while ((type = wire_get_u8(&r)) != 0) {
		const char *value = wire_get_cstring(&r);

		if (!value)
			break;
		store_error_field(out, type, value, &sev_s, &sev_v);
	}
	if (!wire_reader_ok(&r) || wire_remaining(&r) != 0) {
		memset(out, 0, sizeof(*out));
		return false;
	}
	out->severity = sev_v ? sev_v : sev_s;
	return true;
}

bool wire_next_message(struct wire_reader *r, uint8_t *type, const uint8_t **body, uint32_t *len)
{
	uint32_t n;

	if (wire_remaining(r) == 0)
		return false;
	*type = wire_get_u8(r);
	n = wire_get_u32(r);
	if (!wire_reader_ok(r) || n < 4) {
		r->failed = true;
		return false;
	}
	*len = n - 4;
	*body = wire_get_bytes(r, *len);
	return wire_reader_ok(r);
}
