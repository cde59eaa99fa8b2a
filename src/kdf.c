/* SPDX-License-Identifier: ISC */
/*
 * The KDF pool (kdf.h): threads that run PBKDF2, the FIFO of jobs waiting for them, and the
 * per-worker inboxes that bring results back to a loop as a libevent event on an eventfd.
 * It knows nothing of clients and servers: a requester gets a handle and a callback.
 *
 * One mutex guards all that is shared: the queues, each job's state and cancelled flag, and
 * every inbox's list of finished jobs. A job is in exactly one place: its queue (queued),
 * one thread (running), or its inbox's done list (done); a running job whose requester
 * cancelled it belongs to its thread alone, which frees it instead of posting it. Threads
 * write an inbox's eventfd with the lock held, so once an inbox's last job was delivered or
 * cancelled no thread can reach it again. Delivery takes finished jobs off the list one at
 * a time: a completion that closes another requester finds that one's job still listed, and
 * cancelling it drops it there.
 *
 * Entry points: kdf_pool_create, kdf_pool_free, kdf_inbox_create, kdf_inbox_free,
 * kdf_submit, kdf_cancel.
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "kdf.h"
#include "list.h"
#include "log.h"

#define KDF_MAX_THREADS 8
#define KDF_NICE	10

enum kdf_state {
	KDF_QUEUED,
	KDF_RUNNING,
	KDF_DONE,
};

struct kdf_job {
	struct list_node node; /* on its pool.queue when queued, inbox.done when done */
	enum kdf_state state;
	enum kdf_class cls;
	bool cancelled; /* running only: its thread frees it instead of posting it */
	char *password; /* owned; wiped */
	struct kdf_result res;
	struct kdf_inbox *inbox; /* borrowed */
	kdf_done_fn done;
	void *arg;
	struct kdf_job **handle; /* borrowed: the requester's pointer to this job */
};

struct kdf_pool {
	pthread_mutex_t lock;
	pthread_cond_t wake;		     /* a job was queued, or the pool stops */
	struct list_head queue[KDF_CLASSES]; /* queued jobs of each class, oldest first */
	unsigned running[KDF_CLASSES];	     /* jobs of each class in a thread */
	unsigned limit[KDF_CLASSES];	     /* most jobs of each class at once */
	bool stopping;
	unsigned nthreads;
	pthread_t threads[KDF_MAX_THREADS];
};

struct kdf_inbox {
	struct kdf_pool *pool; /* borrowed */
	int efd;	       /* owned: eventfd, written by the threads under pool->lock */
	struct event *ev;      /* owned */
	struct list_head done; /* finished jobs, under pool->lock */
	unsigned outstanding;  /* submitted, not delivered or cancelled; loop thread only */
};

static void job_free(struct kdf_job *job)
{
	if (job->password) {
		OPENSSL_cleanse(job->password, strlen(job->password));
		free(job->password);
	}
	OPENSSL_cleanse(job, sizeof(*job));
	free(job);
}

/* ---- the threads ---- */

/* Derivations yield the CPU to the loop: per-thread nice on Linux; best effort. */
static void lower_priority(void)
{
#ifdef __linux__
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), KDF_NICE);
#endif
}

/* Runs with the lock released: while running, the job's fields are this thread's. */
static void run(struct kdf_job *job)
{
	const struct scram_kdf_params *p = &job->res.params;

	job->res.ok = auth_scram_salted_password(job->password, p->salt, p->salt_len, p->iterations,
						 job->res.salted);
	OPENSSL_cleanse(job->password, strlen(job->password));
}

/* With the lock held: hand the result to its inbox, or drop a cancelled job. */
static void post(struct kdf_job *job)
{
	static const uint64_t one = 1;

	if (job->cancelled) {
		job_free(job);
		return;
	}
	job->state = KDF_DONE;
	list_append(&job->inbox->done, &job->node);
	/* Cannot block (EFD_NONBLOCK) and cannot overflow in practice; a lost wake-up would
	 * be noticed at the next one. */
	(void)!write(job->inbox->efd, &one, sizeof(one));
}

/* With the lock held: the next job a thread may take, server logins first, or NULL. */
static struct kdf_job *next_job(struct kdf_pool *pool)
{
	for (int cls = KDF_FOR_SERVER; cls < KDF_CLASSES; cls++) {
		if (!list_empty(&pool->queue[cls]) && pool->running[cls] < pool->limit[cls])
			return list_entry(list_pop_first(&pool->queue[cls]), struct kdf_job, node);
	}
	return NULL;
}

static void *thread_main(void *arg)
{
	struct kdf_pool *pool = arg;
	struct kdf_job *job;

	lower_priority();
	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (!pool->stopping && !(job = next_job(pool)))
			pthread_cond_wait(&pool->wake, &pool->lock);
		if (pool->stopping)
			break;
		job->state = KDF_RUNNING;
		pool->running[job->cls]++;
		pthread_mutex_unlock(&pool->lock);
		run(job);
		pthread_mutex_lock(&pool->lock);
		pool->running[job->cls]--;
		post(job);
	}
	pthread_mutex_unlock(&pool->lock);
	OPENSSL_thread_stop();
	return NULL;
}

/* ---- the pool ---- */

static void stop_threads(struct kdf_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	pool->nthreads = 0;
}

struct kdf_pool *kdf_pool_create(unsigned nthreads)
{
	struct kdf_pool *pool = xcalloc(1, sizeof(*pool));
	sigset_t all, old;
	bool ok = nthreads >= 1 && nthreads <= KDF_MAX_THREADS;

	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->wake, NULL);
	for (int cls = 0; cls < KDF_CLASSES; cls++)
		list_init(&pool->queue[cls]);
	pool->limit[KDF_FOR_SERVER] = nthreads;
	pool->limit[KDF_FOR_CLIENT] = nthreads > 1 ? nthreads - 1 : 1;
	/* Signals go to the loop's thread (libevent handles them there), never to these. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	while (ok && pool->nthreads < nthreads) {
		ok = pthread_create(&pool->threads[pool->nthreads], NULL, thread_main, pool) == 0;
		pool->nthreads += ok;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!ok) {
		kdf_pool_free(pool);
		return NULL;
	}
	return pool;
}

void kdf_pool_free(struct kdf_pool *pool)
{
	struct list_node *n;

	if (!pool)
		return;
	stop_threads(pool);
	/* Requesters cancel their jobs before their inboxes go; nothing should be left. */
	for (int cls = 0; cls < KDF_CLASSES; cls++) {
		ASSERT(list_empty(&pool->queue[cls]));
		while ((n = list_pop_first(&pool->queue[cls])))
			job_free(list_entry(n, struct kdf_job, node));
	}
	pthread_cond_destroy(&pool->wake);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

unsigned kdf_pool_pending(struct kdf_pool *pool)
{
	unsigned n;

	pthread_mutex_lock(&pool->lock);
	n = 0;
	for (int cls = 0; cls < KDF_CLASSES; cls++)
		n += pool->queue[cls].count + pool->running[cls];
	pthread_mutex_unlock(&pool->lock);
	return n;
}

/* ---- inboxes, on their worker's loop thread ---- */

static struct kdf_job *take_done(struct kdf_inbox *inbox)
{
	struct list_node *n;

	pthread_mutex_lock(&inbox->pool->lock);
	n = list_pop_first(&inbox->done);
	pthread_mutex_unlock(&inbox->pool->lock);
	return n ? list_entry(n, struct kdf_job, node) : NULL;
}

static void deliver(struct kdf_job *job)
{
	struct kdf_result res = job->res;
	kdf_done_fn done = job->done;
	void *arg = job->arg;

	*job->handle = NULL;
	job->inbox->outstanding--;
	job_free(job);
	done(arg, &res);
	OPENSSL_cleanse(&res, sizeof(res));
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct kdf_inbox *inbox = arg;
	struct kdf_job *job;
	uint64_t count;

	(void)what;
	(void)!read(fd, &count, sizeof(count));
	while ((job = take_done(inbox)))
		deliver(job);
}

struct kdf_inbox *kdf_inbox_create(struct kdf_pool *pool, struct event_base *base)
{
	struct kdf_inbox *inbox = xcalloc(1, sizeof(*inbox));

	inbox->pool = pool;
	list_init(&inbox->done);
	inbox->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (inbox->efd >= 0)
		inbox->ev = event_new(base, inbox->efd, EV_READ | EV_PERSIST, on_wake, inbox);
	if (!inbox->ev || event_add(inbox->ev, NULL) != 0) {
		kdf_inbox_free(inbox);
		return NULL;
	}
	return inbox;
}

void kdf_inbox_free(struct kdf_inbox *inbox)
{
	struct list_node *n;

	if (!inbox)
		return;
	if (inbox->outstanding)
		log_warning("%u key derivations still outstanding at exit", inbox->outstanding);
	ASSERT(inbox->outstanding == 0);
	if (inbox->ev)
		event_free(inbox->ev);
	pthread_mutex_lock(&inbox->pool->lock);
	while ((n = list_pop_first(&inbox->done)))
		job_free(list_entry(n, struct kdf_job, node));
	pthread_mutex_unlock(&inbox->pool->lock);
	if (inbox->efd >= 0)
		close(inbox->efd);
	free(inbox);
}

unsigned kdf_inbox_outstanding(const struct kdf_inbox *inbox)
{
	return inbox->outstanding;
}

void kdf_submit(struct kdf_inbox *inbox, enum kdf_class cls, const char *password,
		const struct scram_kdf_params *params, kdf_done_fn done, void *arg,
		struct kdf_job **handle)
{
	struct kdf_pool *pool = inbox->pool;
	struct kdf_job *job = xcalloc(1, sizeof(*job));

	list_node_init(&job->node);
	job->cls = cls;
	job->password = xstrdup(password);
	job->res.params = *params;
	job->inbox = inbox;
	job->done = done;
	job->arg = arg;
	job->handle = handle;
	*handle = job;
	inbox->outstanding++;
	pthread_mutex_lock(&pool->lock);
	job->state = KDF_QUEUED;
	list_append(&pool->queue[cls], &job->node);
	/* Every thread: one that may not take this class goes back to waiting. */
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
}

void kdf_cancel(struct kdf_job **handle)
{
	struct kdf_job *job = *handle;
	struct kdf_pool *pool;
	bool drop = true;

	if (!job)
		return;
	*handle = NULL;
	pool = job->inbox->pool;
	job->inbox->outstanding--;
	pthread_mutex_lock(&pool->lock);
	switch (job->state) {
	case KDF_QUEUED:
		list_remove(&pool->queue[job->cls], &job->node);
		break;
	case KDF_DONE:
		list_remove(&job->inbox->done, &job->node);
		break;
	case KDF_RUNNING:
		job->cancelled = true;
		job->handle = NULL;
		drop = false;
		break;
	}
	pthread_mutex_unlock(&pool->lock);
	if (drop)
		job_free(job);
}
