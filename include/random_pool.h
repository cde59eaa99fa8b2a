/* SPDX-License-Identifier: ISC */
/*
 * Random bytes from OpenSSL's DRBG, drawn a block at a time. A login needs a few dozen
 * random bytes (SCRAM nonce, cancel key); one RAND_bytes call per block, rather than several
 * per login, saves the DRBG's per-call work (its fork check is a getpid system call).
 * Bytes are wiped from the block as they are handed out.
 */
#pragma once

#include "common.h"

#define RANDOM_POOL_SIZE 512

struct random_pool {
	uint8_t bytes[RANDOM_POOL_SIZE];
	uint32_t used; /* bytes[used..] are still unused; RANDOM_POOL_SIZE when empty */
};

void random_pool_init(struct random_pool *p);
/* Fills out with n random bytes; false only if OpenSSL's DRBG fails. */
MUST_CHECK bool random_pool_take(struct random_pool *p, void *out, size_t n);
