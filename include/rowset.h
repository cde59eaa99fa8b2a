/* SPDX-License-Identifier: ISC */
/*
 * A result set for the admin console, streamed to the client in chunks: RowDescription,
 * DataRows, CommandComplete. Rows are built one at a time and appended to a fixed chunk
 * that is handed to the socket whenever it is full, so a SHOW with 10,000 rows never sits
 * in one buffer of its own. A failed send is remembered; the caller checks rowset_end().
 */
#pragma once

#include "common.h"
#include "wire.h"

struct conn;

/* PostgreSQL type OIDs used by the console (PgBouncer's). */
enum rs_type {
	RS_BYTEA = 17,
	RS_INT8 = 20,
	RS_INT4 = 23,
	RS_TEXT = 25,
	RS_NUMERIC = 1700,
};

struct rs_column {
	const char *name;
	enum rs_type type;
};

#define ROWSET_CHUNK 8192
#define ROWSET_ROW   4096

struct rowset {
	struct conn *conn; /* borrowed */
	unsigned ncols;
	unsigned col;  /* columns added to the current row */
	uint64_t rows; /* rows sent */
	bool failed;   /* a send failed: the rest is dropped */
	struct wire_builder chunk, row;
	uint8_t chunk_buf[ROWSET_CHUNK];
	uint8_t row_buf[ROWSET_ROW];
};

/* Sends the RowDescription of ncols columns. */
void rowset_begin(struct rowset *rs, struct conn *c, const struct rs_column *cols, unsigned ncols);
/* Column values of the current row, in order; a row ends after ncols of them. */
void rs_text(struct rowset *rs, const char *s); /* NULL sends SQL NULL */
void rs_int(struct rowset *rs, long long v);
void rs_uint(struct rowset *rs, unsigned long long v);
void rs_null(struct rowset *rs);
void rs_bytes(struct rowset *rs, const void *p, size_t len);
/* Sends what is left and CommandComplete(tag) (e.g. "SHOW"); false if a send failed. */
MUST_CHECK bool rowset_end(struct rowset *rs, const char *tag);
