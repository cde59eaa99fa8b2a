/* SPDX-License-Identifier: ISC */
/*
 * The console's row-set builder (rowset.h). A row is built in its own small buffer and
 * then moved into the chunk; a full chunk goes to the socket first. A value longer than a
 * row can hold is cut short rather than failing the whole result.
 *
 * Entry points: rowset_begin, rs_text, rs_int, rs_uint, rs_null, rs_bytes, rowset_end.
 */
#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "rowset.h"

static void flush_chunk(struct rowset *rs)
{
	if (rs->chunk.len && !rs->failed && !conn_send(rs->conn, rs->chunk.buf, rs->chunk.len))
		rs->failed = true;
	wire_builder_init(&rs->chunk, rs->chunk_buf, sizeof(rs->chunk_buf));
}

/* Appends a complete message to the chunk, flushing first when it does not fit. */
static void append(struct rowset *rs, const uint8_t *msg, size_t len)
{
	if (rs->chunk.len + len > rs->chunk.cap)
		flush_chunk(rs);
	if (len > rs->chunk.cap) { /* cannot happen with ROWSET_ROW < ROWSET_CHUNK */
		rs->failed = rs->failed || !conn_send(rs->conn, msg, len);
		return;
	}
	wire_put_bytes(&rs->chunk, msg, len);
}

void rowset_begin(struct rowset *rs, struct conn *c, const struct rs_column *cols, unsigned ncols)
{
	rs->conn = c;
	rs->ncols = ncols;
	rs->col = 0;
	rs->rows = 0;
	rs->failed = false;
	wire_builder_init(&rs->chunk, rs->chunk_buf, sizeof(rs->chunk_buf));
	wire_builder_init(&rs->row, rs->row_buf, sizeof(rs->row_buf));
	wire_begin(&rs->row, 'T');
	wire_put_u16(&rs->row, (uint16_t)ncols);
	for (unsigned i = 0; i < ncols; i++) {
		wire_put_cstring(&rs->row, cols[i].name);
		wire_put_u32(&rs->row, 0); /* table oid */
		wire_put_u16(&rs->row, 0); /* column number */
		wire_put_u32(&rs->row, (uint32_t)cols[i].type);
		wire_put_u16(&rs->row, cols[i].type == RS_INT8	 ? 8
				       : cols[i].type == RS_INT4 ? 4
								 : 0xffff);
		wire_put_u32(&rs->row, 0xffffffffu); /* type modifier */
		wire_put_u16(&rs->row, 0);	     /* text format */
	}
	wire_end(&rs->row);
	if (!wire_builder_ok(&rs->row))
		rs->failed = true;
	else
		append(rs, rs->row.buf, rs->row.len);
	wire_builder_init(&rs->row, rs->row_buf, sizeof(rs->row_buf));
}

static void start_value(struct rowset *rs)
{
	if (rs->col == 0) {
		wire_builder_init(&rs->row, rs->row_buf, sizeof(rs->row_buf));
		wire_begin(&rs->row, 'D');
		wire_put_u16(&rs->row, (uint16_t)rs->ncols);
	}
}

static void end_value(struct rowset *rs)
{
	if (++rs->col < rs->ncols)
		return;
	rs->col = 0;
	wire_end(&rs->row);
	if (wire_builder_ok(&rs->row))
		append(rs, rs->row.buf, rs->row.len);
	else
		rs->failed = true;
	rs->rows++;
}

void rs_bytes(struct rowset *rs, const void *p, size_t len)
{
	/* Room for the rest of the row's columns (4 bytes each) and the message end. */
	size_t room = rs->row.cap - rs->row.len;
	size_t reserve = 4u * (rs->ncols - rs->col) + 16;

	start_value(rs);
	room = rs->row.cap - rs->row.len;
	if (len + reserve > room)
		len = room > reserve ? room - reserve : 0;
	wire_put_u32(&rs->row, (uint32_t)len);
	wire_put_bytes(&rs->row, p, len);
	end_value(rs);
}

void rs_text(struct rowset *rs, const char *s)
{
	if (!s) {
		rs_null(rs);
		return;
	}
	rs_bytes(rs, s, strlen(s));
}

void rs_null(struct rowset *rs)
{
	start_value(rs);
	wire_put_u32(&rs->row, 0xffffffffu);
	end_value(rs);
}

void rs_int(struct rowset *rs, long long v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%lld", v);
	rs_text(rs, buf);
}

void rs_uint(struct rowset *rs, unsigned long long v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%llu", v);
	rs_text(rs, buf);
}

bool rowset_end(struct rowset *rs, const char *tag)
{
	uint8_t buf[64];
	struct wire_builder b;

	wire_builder_init(&b, buf, sizeof(buf));
	wire_command_complete(&b, tag);
	append(rs, b.buf, b.len);
	flush_chunk(rs);
	return !rs->failed;
}
