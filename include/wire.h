/* SPDX-License-Identifier: ISC */
/*
 * PostgreSQL v3 wire protocol: a bounded reader for parsing packets and a builder with one
 * typed function per message that weir itself sends. Implemented by wire_parse.c (reader,
 * header and startup parsing) and wire_build.c (builder). No other module does pointer
 * arithmetic on packets.
 */
#pragma once

#include "common.h"

/* Protocol codes carried in the length-prefixed packets that have no type byte. */
#define WIRE_PROTO_V3	 0x00030000u
#define WIRE_CANCEL_CODE 80877102u
#define WIRE_SSL_CODE	 80877103u
#define WIRE_GSSENC_CODE 80877104u

/* PostgreSQL's limit for an untyped startup-phase packet (MAX_STARTUP_PACKET_LENGTH). */
#define WIRE_MAX_STARTUP_LEN 10000u

/* Authentication request codes ('R' messages). */
enum wire_auth_code {
	WIRE_AUTH_OK = 0,
	WIRE_AUTH_CLEARTEXT = 3,
	WIRE_AUTH_MD5 = 5,
	WIRE_AUTH_SASL = 10,
	WIRE_AUTH_SASL_CONTINUE = 11,
	WIRE_AUTH_SASL_FINAL = 12,
};

/*
 * Bounded reader over one packet body. Every getter checks bounds; on failure it sets the
 * sticky `failed` flag and returns 0 / NULL, so a parser can read a whole message and test
 * wire_reader_ok() once at the end.
 */
struct wire_reader {
	const uint8_t *data;
	size_t len;
	size_t pos;
	bool failed;
};

void wire_reader_init(struct wire_reader *r, const void *data, size_t len);
uint8_t wire_get_u8(struct wire_reader *r);
uint16_t wire_get_u16(struct wire_reader *r);
uint32_t wire_get_u32(struct wire_reader *r);
/* A NUL-terminated string inside the packet; NULL (and failed) if no NUL before the end. */
const char *wire_get_cstring(struct wire_reader *r);
/* n raw bytes inside the packet; NULL (and failed) if fewer remain. */
const uint8_t *wire_get_bytes(struct wire_reader *r, size_t n);
size_t wire_remaining(const struct wire_reader *r);
bool wire_reader_ok(const struct wire_reader *r);

/*
 * Header of a typed message (type byte + int32 length that counts itself). `avail` bytes are
 * at `buf`. Returns WIRE_HDR_NEED_MORE when fewer than 5 bytes are there, WIRE_HDR_BAD when
 * the length is below 4 or above max_len, else WIRE_HDR_OK with *type and *len (the length
 * field's value, so the whole message is len + 1 bytes).
 */
enum wire_hdr_result {
	WIRE_HDR_OK,
	WIRE_HDR_NEED_MORE,
	WIRE_HDR_BAD
};
enum wire_hdr_result wire_typed_header(const uint8_t *buf, size_t avail, uint32_t max_len,
				       uint8_t *type, uint32_t *len);

/*
 * Walks a region that holds whole typed messages (e.g. a saved ParameterStatus set):
 * returns the next one's type and body, false at the end or on a malformed region (then
 * the reader is failed).
 */
bool wire_next_message(struct wire_reader *r, uint8_t *type, const uint8_t **body, uint32_t *len);

/* Same for the untyped startup-phase packet: int32 length (counting itself) then body. */
enum wire_hdr_result wire_untyped_header(const uint8_t *buf, size_t avail, uint32_t max_len,
					 uint32_t *len);

/*
 * Builder into a caller-owned buffer with a sticky overflow flag: once something does not
 * fit, further writes are ignored and wire_builder_ok() is false. wire_begin()/wire_end()
 * bracket a typed message and fill in its length.
 */
struct wire_builder {
	uint8_t *buf;
	size_t cap;
	size_t len;
	size_t msg_start;
	bool overflow;
};

void wire_builder_init(struct wire_builder *b, void *buf, size_t cap);
bool wire_builder_ok(const struct wire_builder *b);
void wire_begin(struct wire_builder *b, uint8_t type);
/* For untyped startup-phase packets (StartupMessage, CancelRequest, SSLRequest). */
void wire_begin_untyped(struct wire_builder *b);
void wire_end(struct wire_builder *b);
void wire_put_u8(struct wire_builder *b, uint8_t v);
void wire_put_u16(struct wire_builder *b, uint16_t v);
void wire_put_u32(struct wire_builder *b, uint32_t v);
void wire_put_cstring(struct wire_builder *b, const char *s);
void wire_put_bytes(struct wire_builder *b, const void *p, size_t n);

/* Messages weir sends to clients. */
void wire_auth_request(struct wire_builder *b, enum wire_auth_code code, const void *data,
		       size_t len);
void wire_auth_sasl_mechanisms(struct wire_builder *b, const char *const *mechs, size_t n);
void wire_parameter_status(struct wire_builder *b, const char *name, const char *value);
void wire_backend_key_data(struct wire_builder *b, uint32_t pid, uint32_t key);
void wire_ready_for_query(struct wire_builder *b, char status);
/* ErrorResponse ('E') with S, V, C, M fields; severity is "ERROR" or "FATAL". */
void wire_error(struct wire_builder *b, const char *severity, const char *sqlstate,
		const char *message);
/* ErrorResponse ('E') or NoticeResponse ('N') with a DETAIL field when detail is not NULL. */
void wire_report(struct wire_builder *b, uint8_t type, const char *severity, const char *sqlstate,
		 const char *message, const char *detail);
/* NoticeResponse ('N') with severity NOTICE, SQLSTATE 00000. */
void wire_notice(struct wire_builder *b, const char *message);
void wire_negotiate_protocol(struct wire_builder *b, uint32_t newest_version,
			     const char *const *unknown_opts, size_t n);
void wire_command_complete(struct wire_builder *b, const char *tag);
void wire_empty_query_response(struct wire_builder *b);

/* Messages weir sends to servers. */
/* StartupMessage: protocol 3.0 followed by name/value pairs and the final NUL. */
void wire_startup(struct wire_builder *b, const char *const *names, const char *const *values,
		  size_t n);
void wire_password(struct wire_builder *b, const char *password);
void wire_sasl_initial_response(struct wire_builder *b, const char *mech, const void *data,
				size_t len);
void wire_sasl_response(struct wire_builder *b, const void *data, size_t len);
void wire_query(struct wire_builder *b, const char *sql);
void wire_terminate(struct wire_builder *b);
void wire_cancel_request(struct wire_builder *b, uint32_t pid, uint32_t key);
/* SSLRequest: the untyped 8-byte packet asking the server to start TLS. */
void wire_ssl_request(struct wire_builder *b);

/*
 * Walks the name/value pairs of a StartupMessage body; r is positioned after the protocol
 * code. Returns true with *name and *value pointing into the packet, or false (both NULL)
 * either at the final empty name, which must be the packet's last byte (r stays ok), or on
 * a malformed body (wire_reader_ok(r) is false).
 */
bool wire_startup_next_param(struct wire_reader *r, const char **name, const char **value);

/*
 * Parsed ErrorResponse/NoticeResponse body: pointers into the packet (valid while it is).
 * Fields that are absent are NULL. Returns false on a malformed body.
 */
struct wire_error_fields {
	const char *severity;
	const char *sqlstate;
	const char *message;
	const char *detail;
	const char *hint;
};
MUST_CHECK bool wire_parse_error(const void *body, size_t len, struct wire_error_fields *out);
