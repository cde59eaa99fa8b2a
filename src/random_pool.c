/* SPDX-License-Identifier: ISC */
/*
 * Random bytes for nonces, salts and cancel keys, drawn from OpenSSL's generator in blocks
 * of RANDOM_POOL_SIZE and handed out piece by piece, so a login costs no RAND_bytes() call
 * of its own. Bytes handed out are wiped from the pool. Entry points: random_pool_init,
 * random_pool_take.
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

#include "random_pool.h"

void random_pool_init(struct random_pool *p)
{
	p->used = RANDOM_POOL_SIZE;
}

bool random_pool_take(struct random_pool *p, void *out, size_t n)
{
	uint8_t *dst = out;
	size_t chunk;

	while (n > 0) {
		if (p->used == RANDOM_POOL_SIZE) {
			if (RAND_bytes(p->bytes, RANDOM_POOL_SIZE) != 1)
				return false;
			p->used = 0;
		}
		chunk = RANDOM_POOL_SIZE - p->used;
		if (chunk > n)
			chunk = n;
		memcpy(dst, p->bytes + p->used, chunk);
		OPENSSL_cleanse(p->bytes + p->used, chunk);
		p->used += (uint32_t)chunk;
		dst += chunk;
		n -= chunk;
	}
	return true;
}
