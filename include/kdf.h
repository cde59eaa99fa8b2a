/* SPDX-License-Identifier: ISC */
/*
 * PBKDF2 off the event loop. A SCRAM key derivation costs two HMACs per iteration: about
 * 2 ms at PostgreSQL's default of 4096, but a verifier or a server may ask for millions, and
 * a loop that ran those itself would serve nobody for seconds. A small fixed pool of threads
 * runs auth_scram_salted_password (PKCS5_PBKDF2_HMAC) and nothing else; the rest of a login,
 * the HMACs that turn a salted password into keys included, stays on the loop's thread.
 *
 * The pool is process-wide (main.c creates it, every worker shares it). A worker submits
 * through its own inbox, which owns an eventfd registered in that worker's event base; a
 * finished job goes back to the inbox it came from, so its completion runs on the loop of
 * the worker that asked. At most KDF_THREADS derivations run at once; the others wait in
 * FIFO order, so a login storm makes logins queue and does not take the loop's CPU.
 *
 * Jobs come in two classes. KDF_FOR_SERVER, weir's own logins to PostgreSQL (bounded by
 * the pools' sizes and server_scram_max_iterations), go first and may use every thread;
 * KDF_FOR_CLIENT, what clients cause (a password to check against a verifier, perhaps
 * from someone who does not know it), may use all threads but one. However many wrong
 * passwords arrive, a pool that needs a server connection never waits behind them.
 *
 * KDF_THREADS is 2: one for what clients cause and one kept for server logins. A storm of
 * client logins then occupies one core at most and leaves the others to the loop(s) and
 * to PostgreSQL; more threads would only let the storm take more CPU. The threads also run
 * at nice +10, so that on a machine they fill the loop still gets the CPU when it has work.
 *
 * The threads touch only the queue, the job they run and, under the pool's lock, the inbox
 * they post to; they never log, never call back, and block every signal.
 */
#pragma once

#include "auth_scram.h"
#include "common.h"

#define KDF_THREADS 2

struct event_base;
struct kdf_pool;
struct kdf_inbox;
struct kdf_job;

/* Who a derivation is for; see above. */
enum kdf_class {
	KDF_FOR_SERVER,
	KDF_FOR_CLIENT,
	KDF_CLASSES
};

struct kdf_result {
	bool ok;			/* false: PBKDF2 refused the parameters or failed */
	uint8_t salted[SCRAM_KEY_LEN];	/* SaltedPassword */
	struct scram_kdf_params params; /* as submitted */
};

/* Runs on the submitting worker's loop thread; res is wiped when it returns. */
typedef void (*kdf_done_fn)(void *arg, const struct kdf_result *res);

/*
 * Starts nthreads (1..8) threads; KDF_FOR_CLIENT jobs may use nthreads - 1 of them (all,
 * when there is one). NULL if a thread cannot be started (at start-up: fatal).
 */
struct kdf_pool *kdf_pool_create(unsigned nthreads);
/* Stops and joins the threads; a derivation still running is finished first. */
void kdf_pool_free(struct kdf_pool *pool);
/* Jobs queued or running in the pool, all inboxes together. */
unsigned kdf_pool_pending(struct kdf_pool *pool);

/* A worker's inbox: finished jobs wake base's loop. NULL if no eventfd can be made. */
struct kdf_inbox *kdf_inbox_create(struct kdf_pool *pool, struct event_base *base);
/* Every job submitted through the inbox must have been delivered or cancelled. */
void kdf_inbox_free(struct kdf_inbox *inbox);
/* Jobs submitted through the inbox and neither delivered nor cancelled yet. */
unsigned kdf_inbox_outstanding(const struct kdf_inbox *inbox);

/*
 * Queues PBKDF2 over a copy of password (wiped and freed when the job ends) with params, in
 * the FIFO of its class.
 * *handle is set to the job, and back to NULL by the inbox just before done(arg, res) runs
 * on the inbox's loop thread, or by kdf_cancel. A requester keeps the handle while it waits
 * and must cancel it if it goes away first.
 */
void kdf_submit(struct kdf_inbox *inbox, enum kdf_class cls, const char *password,
		const struct scram_kdf_params *params, kdf_done_fn done, void *arg,
		struct kdf_job **handle);

/*
 * When *handle is not NULL, cancels it and sets it to NULL: its done is never called. A
 * waiting job is dropped at once, a running one by its thread when PBKDF2 returns, a
 * finished one from the inbox. On the submitting worker's loop thread only.
 */
void kdf_cancel(struct kdf_job **handle);
