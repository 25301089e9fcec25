/*
 * client_int.h - libkwq internals shared by the client's source files
 * (kwq__ prefix): the client object, key names, the URL parser, argument
 * vectors and the script runner. Not installed.
 */
#ifndef KWQ_CLIENT_INT_H
#define KWQ_CLIENT_INT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "kwq/client.h"
#include "kwq/error.h"
#include "kwq/leader.h"

/* ---- Scripts: the order of proto/CMakeLists.txt KWQ_LUA_SCRIPTS -------------- */

enum kwq__op {
    KWQ__ENQUEUE,
    KWQ__LEASE,
    KWQ__RENEW,
    KWQ__ACK,
    KWQ__FAIL,
    KWQ__RELEASE,
    KWQ__REAP,
    KWQ__SEAL,
    KWQ__STATS,
    KWQ__DEAD,
    KWQ__TASK,
    KWQ__CANCEL,
    KWQ__RESULTS,
    KWQ__PURGE,
    KWQ__CONF,
    KWQ__ACK_RESULT,
    KWQ__START,
    KWQ__STATS_RO,
    KWQ__DEAD_LIST,
    KWQ__LEADER,
    KWQ__LEADER_READ,
    KWQ__OP_COUNT
};

/* ---- keys.c: every key name of a queue ---------------------------------------- */

/* Longest key: "kwq:{" queue "}:" suffix, where a suffix holds at most an idem key. */
#define KWQ__KEY_PREFIX_MAX (5 + KWQ_QUEUE_NAME_MAX + 2)
#define KWQ__FIXED_KEYS     12
#define KWQ__FIXED_KEY_LEN  (KWQ__KEY_PREFIX_MAX + 16)

/* The fixed keys every script gets as KEYS[1..12], in protocol order. */
struct kwq__keys {
    char name[KWQ__FIXED_KEYS][KWQ__FIXED_KEY_LEN];
    size_t len[KWQ__FIXED_KEYS];
};

/* The registry of queue names, "kwq:queues" (a SET). */
extern const char kwq__registry_key[];

/* Fill k for queue (already checked by kwq_queue_name_check). */
void kwq__keys_fixed(struct kwq__keys *k, const char *queue);

/* The leader lease of name (already checked): "kwq:leader:{name}" into buf. */
size_t kwq__key_leader(char *buf, size_t len, const char *name);

/* One of the fixed keys by suffix ("wake", "results"...): "kwq:{q}:<suffix>" into buf. */
size_t kwq__key(char *buf, size_t len, const char *queue, const char *suffix);

/*
 * A per-item key "kwq:{q}:<kind>:<name>" (kind "result" or "idem"), name
 * namelen bytes. Returns a malloc'd string (length in *ret_len), NULL on OOM.
 */
char *kwq__key_item(const char *queue, const char *kind, const char *name, size_t namelen,
                    size_t *ret_len);

/* ---- url.c: the Redis URL -------------------------------------------------------- */

struct kwq__url {
    bool is_unix;   /* unix:// socket rather than TCP */
    char *host;     /* TCP host (owned), NULL for unix */
    int port;       /* TCP port */
    char *path;     /* socket path (owned), NULL for TCP */
    int db;         /* database number */
    char *user;     /* ACL user name from the URL (owned, percent-decoded), or NULL */
    char *password; /* from the URL (owned, percent-decoded), or NULL */
    char *redacted; /* the URL with its password as "***" (owned) */
};

/*
 * Parse redis://[[user]:password@]host[:port][/db][?db=N] or
 * unix://[[user]:password@]/path[?db=N]. Fills u (free with
 * kwq__url_free). Errors: KWQ_EINVAL with a message in err that never holds
 * the password; KWQ_ENOMEM.
 */
int kwq__url_parse(const char *s, struct kwq__url *u, struct kwq_error *err);
void kwq__url_free(struct kwq__url *u);

/* ---- client.c: the client, argument vectors, running scripts ---------------------- */

struct kwq__blk; /* storage for formatted numbers, stable addresses */

/* A growing argument vector: borrowed pointers plus owned formatted numbers. */
struct kwq__args {
    const char **v;
    size_t *len;
    size_t n, cap;
    struct kwq__blk *blk;
    bool oom; /* an add failed: the vector must not be sent */
};

void kwq__args_init(struct kwq__args *a);
void kwq__args_free(struct kwq__args *a);
void kwq__args_clear(struct kwq__args *a); /* empty it, keeping its memory for reuse */
void kwq__args_add(struct kwq__args *a, const void *s, size_t len);     /* borrowed */
void kwq__args_addz(struct kwq__args *a, const char *s);                /* borrowed */
void kwq__args_addcopy(struct kwq__args *a, const char *s, size_t len); /* copied, <= 4096 */
void kwq__args_addu(struct kwq__args *a, uint64_t v);                   /* copied */
void kwq__args_addi(struct kwq__args *a, int64_t v);                    /* copied */

/* Length of a Redis server's run_id (hex digits). */
#define KWQ__RUN_ID_LEN 40

struct kwq_client {
    struct kwq_client_opts opts; /* copy; url, password, password_file owned */
    struct kwq__url url;         /* parsed at connect */
    char *redacted;              /* URL for messages, owned */
    redisContext *rc;            /* NULL when disconnected */
    char sha[KWQ__OP_COUNT][41]; /* SHA1 of every script, filled at connect */
    int script_index[KWQ__OP_COUNT];
    bool waiting; /* kwq_wait_start sent a BLPOP not read yet */
    char errstr[KWQ_ERRSTR_LEN];
    char run_id[KWQ__RUN_ID_LEN + 1]; /* the server's run_id at the last connect, "" before */
};

/*
 * What the server must be before kwq uses it, from the text of INFO (its
 * default sections): the master (KWQ_EREADONLY for a replica, unless
 * replica_ok: a client made with opts.read_only), done loading
 * its data (KWQ_ECONN, a passing state: scripts are refused until then), and
 * never evicting keys (KWQ_EPOLICY). Copies its run_id into run_id
 * (KWQ__RUN_ID_LEN + 1 bytes) when INFO has one. Returns 0, or the code with
 * one line in err naming url. No I/O: the blocking and the non-blocking
 * connect share it.
 */
int kwq__info_check(const char *info, const char *url, bool replica_ok, char *run_id,
                    struct kwq_error *err);

/* Script file names ("enqueue", ...), in enum kwq__op order. */
extern const char *const kwq__op_names[KWQ__OP_COUNT];

/* The URL for messages (redacted), or a placeholder before it was parsed. */
const char *kwq__url_for_msg(const struct kwq_client *c);

/* Overwrite a secret, then free it. s may be NULL. */
void kwq__free_secret(char *s);

/* SCRIPT LOAD of op: queue it / read its reply into c->sha[op]. */
int kwq__script_load_append(struct kwq_client *c, enum kwq__op op);
int kwq__script_load_reply(struct kwq_client *c, enum kwq__op op);

/* Set c->errstr (printf-style) and return code. */
int kwq__fail(struct kwq_client *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The KWQ_E* code of an error reply and one line for it in err naming url:
 * kwq's own wire words (docs/PROTOCOL.md "Errors"), then Redis's own. A
 * passing state that the same call can outlive (LOADING, BUSY, MASTERDOWN,
 * TRYAGAIN, CLUSTERDOWN, MISCONF, NOREPLICAS, max clients, UNBLOCKED) is
 * KWQ_ECONN, and the caller drops the connection so that it reconnects;
 * OOM is KWQ_EOOM (transient, the connection kept); READONLY, NOPERM and the
 * password errors are their configuration codes; SELECT's "DB index is out
 * of range" is KWQ_EINVAL (the URL's db); anything else KWQ_EREDIS.
 * No I/O: the blocking and the non-blocking client share it.
 */
int kwq__redis_error(const char *reply, size_t len, const char *url, struct kwq_error *err);

/* Clear errstr, check the connection and the queue name. Returns 0 or an error. */
int kwq__begin(struct kwq_client *c, const char *queue);

/* kwq__begin for a call that names no queue (the registry). */
int kwq__begin_server(struct kwq_client *c);

/*
 * Queue the EVALSHA of op over the 12 fixed keys of queue, then xkeys (may be
 * NULL), then args (may be NULL). Nothing is written until a reply is read.
 */
int kwq__eval_append(struct kwq_client *c, enum kwq__op op, const char *queue,
                     const struct kwq__args *xkeys, const struct kwq__args *args);

/*
 * Read one reply. Returns 0 and a reply that is not an error; for an error
 * reply returns its KWQ_E* code with errstr set (and *nosc = true for
 * NOSCRIPT when nosc is not NULL). Transport failures disconnect.
 */
int kwq__reply(struct kwq_client *c, redisReply **ret, bool *nosc);

/* Append + read, reloading the script once on NOSCRIPT. */
int kwq__eval(struct kwq_client *c, enum kwq__op op, const char *queue,
              const struct kwq__args *xkeys, const struct kwq__args *args, redisReply **ret);

/*
 * Run an operation on one task: kwq__begin, check id, then op with ARGV
 * [verb,] id and, when result_key, KEYS[13] = kwq:{queue}:result:<id>.
 */
int kwq__eval_task(struct kwq_client *c, enum kwq__op op, const char *queue, const char *verb,
                   const char *id, bool result_key, redisReply **ret);

/* SCRIPT LOAD op again (after NOSCRIPT). */
int kwq__script_reload(struct kwq_client *c, enum kwq__op op);

/* Queue a plain command (argv); nothing is written until a reply is read. */
int kwq__command_append(struct kwq_client *c, const struct kwq__args *argv);

/* Run a plain command (argv). Same reply handling as kwq__reply. */
int kwq__command(struct kwq_client *c, const struct kwq__args *args, redisReply **ret);

/* Mark the connection broken: free it, keep errstr. */
void kwq__disconnect(struct kwq_client *c);

/* SIGPIPE blocked around writes to the socket (see client.c). */
struct kwq__sigpipe {
    sigset_t old;
    bool blocked, was_pending;
};
void kwq__sigpipe_block(struct kwq__sigpipe *s);
void kwq__sigpipe_restore(struct kwq__sigpipe *s);

/* Set the socket timeout for the next command: command_timeout_ms + extra_ms. */
void kwq__set_timeout(struct kwq_client *c, uint64_t extra_ms);

/*
 * ---- The I/O-free core -------------------------------------------------------
 * What the synchronous client (here) and the non-blocking one (async.c) share:
 * builders append a command's argv to an initialised kwq__args, parsers turn a
 * reply into results or a KWQ_E* code with c->errstr set. Neither does I/O;
 * each front end sends the argv and reads the reply its own way.
 */

/* Script calls of renew/ack/fail/release carry at most this many items (Lua's unpack limit). */
#define KWQ__HOLD_CHUNK 1000

/*
 * The whole EVALSHA argv of op over the 12 fixed keys of queue (copied),
 * then xkeys and args (borrowed; either may be NULL). queue NULL: no fixed
 * keys, for a script over keys of its own (the leader lease). 0 or
 * KWQ_ENOMEM.
 */
int kwq__eval_argv(struct kwq_client *c, enum kwq__op op, const char *queue,
                   const struct kwq__args *xkeys, const struct kwq__args *args,
                   struct kwq__args *out);

/*
 * Map an error reply: its KWQ_E* code with errstr set. *nosc (when nosc is
 * not NULL) is set for NOSCRIPT, *drop when the connection must be dropped
 * (a Redis still loading).
 */
int kwq__reply_error(struct kwq_client *c, const redisReply *r, bool *nosc, bool *drop);

/* SCRIPT LOAD of op's script / its reply into c->sha[op]. */
void kwq__script_load_argv(const struct kwq_client *c, enum kwq__op op, struct kwq__args *argv);
int kwq__script_sha(struct kwq_client *c, const redisReply *r, enum kwq__op op);

/*
 * Connecting (client_connect.c). prepare: parse the URL, find the scripts,
 * resolve the password (*password: NULL or a secret to free with
 * kwq__free_secret). Then AUTH when there is a password, SELECT when db is
 * not 0, INFO checked by kwq__server_check, and SCRIPT LOAD of every op.
 */
int kwq__connect_prepare(struct kwq_client *c, char **password);
void kwq__auth_argv(const struct kwq_client *c, const char *password, struct kwq__args *argv);
void kwq__select_argv(const struct kwq_client *c, struct kwq__args *argv);
/* kwq__info_check over an INFO reply, into c->errstr and c->run_id. */
int kwq__server_check(struct kwq_client *c, const redisReply *r);

/*
 * The server run_id read at connect, copied into args: the ARGV that lets
 * enqueue and lease notice a Redis that restarted or failed over
 * (docs/PROTOCOL.md "Rollbacks"). "unknown" for a server whose INFO has none.
 */
void kwq__args_run_id(const struct kwq_client *c, struct kwq__args *args);

/* Lease (client_lease.c): check the arguments, the script's ARGV, its reply into ret. */
int kwq__lease_check(struct kwq_client *c, size_t max, uint64_t lease_ms);
void kwq__lease_args(const struct kwq_client *c, size_t max, uint64_t lease_ms,
                     struct kwq__args *args);
int kwq__lease_parse(struct kwq_client *c, const redisReply *r, size_t max,
                     struct kwq_lease_result *ret);
/* kwq_lease_prefetch: check charge (0..max); after kwq__lease_args, charge only the first
   charge tasks (< max). */
int kwq__charge_check(struct kwq_client *c, size_t max, size_t charge);
void kwq__lease_charge_arg(size_t charge, struct kwq__args *args);

/* The wait: BLPOP of the queue's wake list for ms (0 counts as 1); woken or not. */
void kwq__wait_argv(const char *queue, uint64_t ms, struct kwq__args *argv);
bool kwq__wait_woken(const redisReply *r);

/*
 * Holding leases (client_hold.c), per chunk of at most KWQ__HOLD_CHUNK items.
 * renew (lease_ms > 0) and release (lease_ms 0) send id/token pairs; every
 * op gets a status per item sent, parsed by kwq__statuses.
 */
int kwq__refs_check(struct kwq_client *c, const char *what, const struct kwq_lease_ref *refs,
                    size_t n);
int kwq__renew_check(struct kwq_client *c, const struct kwq_lease_ref *refs, size_t n,
                     uint64_t lease_ms);
void kwq__refs_args(const struct kwq_lease_ref *refs, size_t m, uint64_t lease_ms,
                    struct kwq__args *args);
int kwq__statuses(struct kwq_client *c, const redisReply *r, size_t n, int *out);

/*
 * ack: one script call from acks[0..m): the items without a result (script
 * ack, allow-oom) when with_result is false, else those with one (script
 * ack_result, refused by Redis at maxmemory), their results up to
 * KWQ__HOLD_BYTES in all (the first always goes). Items with a result over
 * max_result are not sent (st[i] = KWQ_ETOOBIG, errstr names it). The items
 * put in go to keys/args, their indexes into sent (room for m); returns how
 * many, and *scanned = how many of acks were looked at (the next call of the
 * same kind starts there). ack_parse spreads the k statuses of the reply over
 * st by sent; ack_refused maps a refused ack_result (OOM) to KWQ_EOOM, for
 * each item sent too, and returns any other code unchanged.
 */
#define KWQ__HOLD_BYTES (8u * 1024u * 1024u)
int kwq__ack_check(struct kwq_client *c, const struct kwq_ack *acks, size_t n);
size_t kwq__ack_args(struct kwq_client *c, const char *queue, const struct kwq_ack *acks, size_t m,
                     bool with_result, int *st, size_t *sent, size_t *scanned,
                     struct kwq__args *keys, struct kwq__args *args);
int kwq__ack_parse(struct kwq_client *c, const redisReply *r, size_t k, const size_t *sent,
                   int *st);
int kwq__ack_refused(struct kwq_client *c, int rc, size_t k, const size_t *sent, int *st);

/* fail: check, ARGV of m failures, the reply's m outcomes into out (may be NULL). */
int kwq__fail_check(struct kwq_client *c, const struct kwq_failure *f, size_t n);
void kwq__fail_args(const struct kwq_failure *f, size_t m, struct kwq__args *args);
int kwq__fail_parse(struct kwq_client *c, const redisReply *r, size_t m,
                    struct kwq_fail_outcome *out);

/* The seal script (client_queue.c): op "seal", "unseal" or "drained"; its flags. */
void kwq__seal_args(const char *op, struct kwq__args *args);
int kwq__seal_parse(struct kwq_client *c, const redisReply *r, bool *sealed, bool *drained);

/* The stats and stats_ro scripts' name/value pairs into ret (set up by kwq__stats_init). */
void kwq__stats_init(struct kwq_stats *s);
int kwq__stats_parse(struct kwq_client *c, const redisReply *r, struct kwq_stats *ret);

/* reap (client_queue.c): check max (1..1000), the script's ARGV, its reply into ret (may be NULL). */
int kwq__reap_check(struct kwq_client *c, size_t max);
void kwq__reap_args(size_t max, struct kwq__args *args);
int kwq__reap_parse(struct kwq_client *c, const redisReply *r, struct kwq_reap_result *ret);

/*
 * The queue registry (client_registry.c), plain commands on kwq__registry_key:
 * SADD of queue (kwq_enqueue pipelines it ahead of its first chunk), SMEMBERS,
 * and its reply as the sorted list kwq_queues_list returns.
 */
void kwq__register_argv(const char *queue, struct kwq__args *argv);
void kwq__queues_argv(struct kwq__args *argv);
int kwq__queues_parse(struct kwq_client *c, const redisReply *r, char ***ret, size_t *ret_n);

/*
 * Dead letters (client_dead.c). dead_list: ARGV for count in 1..10000, the
 * reply into a malloc'd list (kwq_dead_list_free). requeue/purge: check the
 * IDs, ARGV of op on m IDs, or on every dead task ("*all", KWQ__DEAD_CHUNK
 * a call, repeated until a call handles none) when ids is NULL; the count a
 * call handled.
 */
#define KWQ__DEAD_LIST_MAX 10000
#define KWQ__DEAD_CHUNK    1000
void kwq__dead_list_args(size_t offset, size_t count, struct kwq__args *args);
int kwq__dead_list_parse(struct kwq_client *c, const redisReply *r, struct kwq_dead_task **ret,
                         size_t *ret_n);
int kwq__dead_ids_check(struct kwq_client *c, const char *const *ids, size_t n);
void kwq__dead_op_args(const char *op, const char *const *ids, size_t m, struct kwq__args *args);
int kwq__count_parse(struct kwq_client *c, const redisReply *r, long long *ret);

/*
 * One task (client_task.c): the extra KEYS and the ARGV of op on id (checked):
 * [verb,] id and, when result_key, KEYS[13] = kwq:{queue}:result:<id>, whose
 * malloc'd name goes to *ret_key (the caller frees it once sent). The task
 * script's reply into ret (freed with kwq_task_info_done).
 */
int kwq__task_argv(struct kwq_client *c, const char *queue, const char *verb, const char *id,
                   bool result_key, struct kwq__args *keys, struct kwq__args *args, char **ret_key);
int kwq__task_parse(struct kwq_client *c, const redisReply *r, struct kwq_task_info *ret);
/*
 * The leader lease (leader.c, kwq/leader.h). The checks: name, and holder
 * unless NULL; the ttl; a release's term; one line in errstr. acquire_args: the
 * leader script's ARGV for an acquire (the run_id of the connection);
 * release_args: for a release. parse: an acquire or read reply into st;
 * released: a release reply, 1 or 0.
 */
int kwq__leader_check(struct kwq_client *c, const char *name, const char *holder);
int kwq__leader_ttl_check(struct kwq_client *c, uint64_t ttl_ms);
int kwq__leader_term_check(struct kwq_client *c, uint64_t term);
void kwq__leader_acquire_args(const struct kwq_client *c, const char *holder, uint64_t ttl_ms,
                              struct kwq__args *args);
void kwq__leader_release_args(const char *holder, uint64_t term, struct kwq__args *args);
int kwq__leader_parse(struct kwq_client *c, const redisReply *r, struct kwq_leader_state *st);
int kwq__leader_released(struct kwq_client *c, const redisReply *r);

/* ---- reply helpers ---------------------------------------------------------- */

/* Integer value of an integer or numeric string reply; false when neither. */
bool kwq__reply_int(const redisReply *r, long long *ret);

/* KWQ_EINVAL with a message unless id is a valid task ID. */
int kwq__check_id(struct kwq_client *c, const char *id);

/* Copy a string reply into an ID buffer of KWQ_ID_MAX; false when it does not fit. */
bool kwq__copy_id(char *dst, const redisReply *r);

/* Error out with KWQ_EPROTO naming what was expected. */
int kwq__bad_reply(struct kwq_client *c, const char *what);

/* A malloc'd NUL-terminated copy of a string reply (NULL on OOM). */
char *kwq__reply_dup(const redisReply *r);

/* Status of a per-item wire word ("OK" -> 0, "KWQ_LEASELOST" -> KWQ_ELEASELOST...). */
int kwq__item_status(const redisReply *r);

#endif /* KWQ_CLIENT_INT_H */
