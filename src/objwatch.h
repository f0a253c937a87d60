/*
 * objwatch: objects land in storage, their processed versions appear and a
 * row in PostgreSQL says so.
 *
 * This is the one private header of the daemon, with a section per source
 * file. Data flow: a source (src/source-dir.c) notices an object and
 * enqueues it (src/queue.c) as one objects row and one jobs row per recipe;
 * workers (src/worker.c) claim jobs, read the bytes, run the recipe
 * (src/recipe.c, handlers/) and store the output (src/store-file.c),
 * then record outputs rows and the job's completion in one transaction.
 */
#ifndef OBJWATCH_H
#define OBJWATCH_H

#include <sys/types.h>

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * libpq's handles, named without its header: only the modules that talk
 * to PostgreSQL (db, queue, ledger and the query modules) include
 * <libpq-fe.h>; the rest pass connections along and cannot reach into
 * them. These are the same typedefs as libpq's own.
 */
typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

#ifndef __dead
#define __dead __attribute__((__noreturn__))
#endif
#define PRINTFLIKE(a, b) __attribute__((__format__(__printf__, a, b)))

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/* Free and forget: the pointer can never be used after it is released. */
#define FREE_NULL(p) do { free(p); (p) = NULL; } while (0)

/* xmalloc.c: allocation that dies on out-of-memory, like tmux. */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...) PRINTFLIKE(2, 3);
int	 xvasprintf(char **, const char *, va_list);

/* A growable string list. */
struct strv {
	char	**v;
	size_t	  n;
};
void	 strv_push(struct strv *, const char *);
void	 strv_clear(struct strv *);
int	 strv_split_words(struct strv *, const char *);
char	*strv_join(const struct strv *, const char *);

/* A growable NUL-terminated string. */
struct buf {
	char	*s;
	size_t	 len;
	size_t	 size;
};
void	 buf_init(struct buf *);
void	 buf_add(struct buf *, const void *, size_t);
void	 buf_printf(struct buf *, const char *, ...) PRINTFLIKE(2, 3);
char	*buf_take(struct buf *);
void	 buf_clear(struct buf *);

/* utf8.c: well-formed UTF-8, allocating nothing (log.c reads it too). */
int	 utf8_sequence(const unsigned char *, unsigned int *cp);
int	 utf8_sequence_n(const unsigned char *, size_t left, unsigned int *cp);
int	 utf8_valid(const char *);

/* log.c: OpenBSD-style logging to stderr, one line per call. */
enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};
void	 log_init(enum log_level, int json);
int	 log_open(const char *path);
void	 log_context(const char *source, const char *key, const char *recipe,
	     long long job);
void	 log_context_class(const char *);
void	 log_warn(const char *, ...) PRINTFLIKE(1, 2);
void	 log_warnx(const char *, ...) PRINTFLIKE(1, 2);
void	 log_info(const char *, ...) PRINTFLIKE(1, 2);
void	 log_debug(const char *, ...) PRINTFLIKE(1, 2);
__dead void fatal(const char *, ...) PRINTFLIKE(1, 2);
__dead void fatalx(const char *, ...) PRINTFLIKE(1, 2);

/* util.c: small helpers shared by several modules. */
int	 glob_match_any(const struct strv *, const char *);
char	*path_join(const char *, const char *);
char	*path_absolute(const char *base_dir, const char *path);
int	 path_normalise_key(const char *, char **, char **cause);
int	 mkdir_parents(const char *, mode_t);
int	 read_file(const char *, void **, size_t *, size_t limit, char **cause);
char	*path_temp(const char *);
int	 write_file_atomic(const char *, const void *, size_t, char **cause);
int	 parse_duration(const char *, double *);
int	 parse_size(const char *, uint64_t *);
double	 now_monotonic(void);
double	 now_wall(void);
int	 ncpus(void);
void	 random_seed(void);
char	*utf8_escape(const char *);
struct json_t *utf8_json(const char *);
char	*key_from_name(const char *);
char	*name_from_key(const char *);
char	*url_form_decode(const char *);
char	*etag_unquote(const char *);

/* error classes: what a failed job records in jobs.error_class. */
enum error_class {
	ERROR_NONE,
	ERROR_DECODE,
	ERROR_LIMIT,
	ERROR_IO,
	ERROR_STORAGE,
	ERROR_CONFIG
};
const char *error_class_name(enum error_class);

/*
 * How a failure goes on: it stays failed until someone requeues it, it is
 * retried after a backoff and counts an attempt, or it waits out an outage
 * of what it needs (a server down, refusing or slowing down) and is tried
 * again without counting an attempt, since the job did nothing wrong.
 */
#define JOB_PERMANENT	0
#define JOB_RETRY	1
#define JOB_WAIT	2

/* A job's failure: class, JOB_PERMANENT/RETRY/WAIT, and the message. */
struct job_error {
	enum error_class	 cls;
	int			 transient;
	char			*msg;
};
void	 job_error_set(struct job_error *, enum error_class, int transient,
	     const char *, ...) PRINTFLIKE(4, 5);
void	 job_error_clear(struct job_error *);

/* recipe.c and handlers/: the recipe language and its runner. */
struct step_arg {
	char	*key;
	char	*value;
	int	 used;		/* set by the handler that consumed it */
};

struct step {
	const struct handler	*handler;
	struct step_arg		*args;
	size_t			 nargs;
	void			*data;	/* the handler's parsed parameters */
	const char		*dir;	/* relative paths start here */
};

/*
 * The state of one image going through a recipe. The first step that needs
 * pixels loads them (thumbnail loads with shrink-on-load); the save step
 * leaves the encoded bytes in out.
 */
struct image_job {
	const void		*in;
	size_t			 inlen;
	const char		*in_name;	/* for messages only */
	const char		*recipe;	/* its name, for messages */
	struct _VipsImage	*image;
	const char		*loader;	/* the loader's nickname */

	void			*out;		/* g_malloc'd, g_free */
	size_t			 outlen;
	const char		*format;	/* jpeg, png, webp */
	const char		*ext;		/* jpg, png, webp */
	const char		*mime;
	int			 width;
	int			 height;

	/* From the header, before any pixel is decoded (admission). */
	int			 in_width;
	int			 in_height;	/* of one page */
	int			 in_pages;
	int			 in_orientation; /* EXIF, 1 when absent */
	int			 max_pages;	/* frames a step may decode */

	char			*info;		/* info step: JSON, free() */

	struct job_error	 error;
};

#define HANDLER_LOADS	(1 << 0)	/* may come first and load itself */
#define HANDLER_SAVES	(1 << 1)	/* must come last */
#define HANDLER_ALONE	(1 << 2)	/* the only step: writes no output */
#define HANDLER_COPY	(1 << 3)	/* the only step: the input as it is */
#define HANDLER_LINES	(1 << 4)	/* the only step: lines into rows */

/* One recipe step, selected by name from the table in handler.c. */
struct handler {
	const char	*name;
	const char	*usage;
	int		 flags;
	int		(*parse)(struct step *, char **cause);
	int		(*run)(const struct step *, struct image_job *);
	void		(*free)(void *);
};
const struct handler *handler_find(const char *);
const char	*handler_names(void);

/* Helpers for handlers' parameter parsing; messages name the parameter. */
const char	*step_arg(struct step *, const char *key);
int	 step_arg_int(struct step *, const char *key, int min, int max,
	     int def, int *out, char **cause);
int	 step_arg_choice(struct step *, const char *key,
	     const char *const *choices, int def, int *out, char **cause);
int	 step_arg_bool(struct step *, const char *key, int def, int *out,
	     char **cause);
int	 step_check_unused(struct step *, char **cause);
int	 step_arg_double(struct step *, const char *key, double min,
	     double max, double def, double *out, char **cause);
int	 step_arg_colour(struct step *, const char *key, const double *def,
	     double *rgba, char **cause);
int	 step_arg_length(struct step *, const char *key, int def,
	     double *out, int *percent, char **cause);
int	 step_arg_gravity(struct step *, const char *key, int def, int *out,
	     char **cause);
void	 gravity_place(int gravity, int outer_w, int outer_h, int w, int h,
	     int inset, int dx, int dy, int *x, int *y);

extern const struct handler handler_thumbnail;
extern const struct handler handler_crop;
extern const struct handler handler_watermark;
extern const struct handler handler_save;
extern const struct handler handler_info;
extern const struct handler handler_lines;
extern const struct handler handler_copy;

/* handlers/copy.c: the copy step's parameters. */
int	 copy_gzip_level(const void *);

/*
 * linesplit.c: an object's lines, through gzip when it is compressed.
 * The callback gets each line without its newline (and "\r"), its number
 * from 1 and the offset of its first byte; non-zero stops the split.
 */
typedef int (*lines_line_cb)(void *arg, const char *line, size_t len,
    int64_t lineno, int64_t offset, int truncated);
struct lines_split;
struct lines_split *lines_split_new(size_t max_line, lines_line_cb, void *);
void	 lines_split_free(struct lines_split *);
int	 lines_split_feed(struct lines_split *, const void *, size_t);
int	 lines_split_finish(struct lines_split *, int partial);
const char *lines_split_error(const struct lines_split *);
int	 lines_split_gzip(const struct lines_split *);
int64_t	 lines_split_lineno(const struct lines_split *);
int64_t	 lines_split_offset(const struct lines_split *);
int	 lines_split_head(const void *, size_t, unsigned char *, size_t max,
	     size_t *n);

/* table.c: a lines job's rows into its recipe's table. */
struct claimed_job;
struct recipe;
struct table_stats {
	int64_t		 lines;		/* read */
	int64_t		 rows;		/* loaded */
	int64_t		 dropped;	/* blank, comment, header, filter */
	int64_t		 rejected;
	int		 rejects_kept;	/* rows written to rejects */
	int64_t		 bytes;		/* as read */
	int64_t		 text_bytes;	/* uncompressed */
	int64_t		 start_offset;	/* where a followed file went on */
	int64_t		 first_line;
	int		 gzip;
	double		 seconds;
};
int	 table_prepare(PGconn *, const struct recipe *, int *config,
	     char **cause);
/* What a lines job reads: an open file, in pieces, or bytes in memory. */
struct table_input {
	int		 fd;		/* -1: data holds the whole object */
	const void	*data;
	size_t		 len;		/* the size, of the file or of data */
	int		 follow;	/* a followed log in a folder */
};
int	 table_status_print(PGconn *, FILE *, char **cause);
int	 table_load(PGconn *, const struct recipe *,
	     const struct claimed_job *, const struct table_input *,
	     struct table_stats *, struct job_error *);

/* lineparse.c: the lines step's spec, and lines into COPY rows. */
struct lines_spec;
struct lines_parser;
int	 lines_spec_parse(struct step *, char **cause);
void	 lines_spec_free(struct lines_spec *);
size_t	 lines_ncolumns(const struct lines_spec *);
const char *lines_column_name(const struct lines_spec *, size_t);
const char *lines_column_sql_type(const struct lines_spec *, size_t);
size_t	 lines_max_line(const struct lines_spec *);
int	 lines_max_rejects(const struct lines_spec *);
int	 lines_has_header(const struct lines_spec *);
int	 lines_follow(const struct lines_spec *);
struct lines_parser *lines_parser_new(const struct lines_spec *);
void	 lines_parser_free(struct lines_parser *);
int	 lines_parse(struct lines_parser *, const char *, size_t,
	     int64_t lineno, struct buf *, char **why);
int	 lines_run_text(const struct lines_spec *, const void *, size_t,
	     struct buf *out, struct buf *rejects, struct table_stats *,
	     char **cause);

/* image.c: libvips' reasons, encoders and metadata; a job's image. */
char	*image_error(void);
int	 image_can_encode(const char *format);
char	*image_exif_string(struct _VipsImage *, const char *field);
int	 image_info(const void *, size_t, char **json, char **cause);
int	 image_job_load(struct image_job *);
void	 image_job_fail(struct image_job *, enum error_class,
	     const char *what);
void	 image_job_clear(struct image_job *);

/* Admission limits: their defaults, and what 0 means in a recipe. */
#define DEFAULT_MAX_PIXELS	50000000LL
#define DEFAULT_MAX_INPUT_BYTES	(100LL * 1024 * 1024)
#define DEFAULT_MAX_PAGES	1

enum output_kind {
	OUTPUT_DIR,
	OUTPUT_S3,
	OUTPUT_TABLE
};

/*
 * What a recipe does with its input, from its first step's handler: image
 * steps decode pixels, copy passes the bytes through as a stream, lines
 * parses text into rows of a table.
 */
enum recipe_kind {
	RECIPE_IMAGE,
	RECIPE_COPY,
	RECIPE_LINES
};

struct recipe {
	char		*name;
	int		 line;
	char		*steps_text;
	int		 steps_line;
	struct step	*steps;
	size_t		 nsteps;
	enum recipe_kind kind;
	char		*output;	/* as written, e.g. "dir:/srv/{key}.{ext}" */
	int		 output_line;
	enum output_kind output_kind;
	char		*output_template; /* after the prefix, absolute for dir */
	char		*output_root;	/* fixed part before the first field */
	char		 hash[17];	/* hex, over the canonical steps */
	const char	*dir;		/* the config's folder, not owned */
	int		 writes;	/* 0: an info-only recipe, no output */
	int		 reprocess;	/* requeue older hashes at start */
	long long	 max_pixels;	/* 0: [objwatch]'s, else the default */
	long long	 max_input_bytes;
	int		 max_pages;
	const struct source *output_via; /* s3: the source whose endpoint
					    and keys it writes with */
	char		*output_bucket;	/* s3: the bucket */
	char		*output_table;	/* table: the name, quoted for SQL */
	char		*notify;	/* as written: webhook:URL, or NULL */
	int		 notify_line;
	char		*notify_url;	/* after webhook: */
	char		*notify_secret;	/* as written: a secret or env:NAME */
	char		*notify_secret_value;	/* resolved; never printed */
	char		*notify_ca_file; /* NULL: the system's CA bundle */
	int		 notify_attempts; /* then the delivery is dead */
	double		 notify_timeout; /* seconds for one POST */
	char		*after_name;	/* as written: the recipe it follows */
	int		 after_line;
	struct recipe	*after;		/* its input is this one's output */
	struct recipe	**next;		/* the recipes that follow this one */
	size_t		 nnext;
};
int	 recipe_parse_steps(struct recipe *, char **cause);
void	 recipe_chain_hash(struct recipe *, const char *upstream);
void	 recipe_free_steps(struct recipe *);
int	 recipe_run(const struct recipe *, struct image_job *);
int	 recipe_run_bytes(const struct recipe *, const void *, size_t,
	     const char *name, struct image_job *);
int	 recipe_admit_size(const struct recipe *, const char *name,
	     long long size, struct job_error *);
void	 images_init(const char *argv0);
void	 images_shutdown(void);
void	 images_memory(double *now, double *highwater);
const char *images_version(void);

/* imgcheck.c: structural checks libvips does not make. */
int	 imgcheck_complete(const void *, size_t, const char **what);

/* template.c: output names. */
struct template_vars {
	const char	*source;
	const char	*key;
	const char	*recipe;
	const char	*ext;
	const char	*hash;
};
int	 template_expand(const char *tmpl, const struct template_vars *,
	     char **out, char **cause);
int	 template_check(const char *tmpl, char **cause);
char	*template_root(const char *tmpl);

/* config.c: the INI file. */
enum source_type {
	SOURCE_DIR,
	SOURCE_S3
};

enum s3_signature {
	S3_SIGNATURE_V4,	/* AWS Signature V4: every current server */
	S3_SIGNATURE_V2		/* V2: old servers; listings through libs3 */
};

enum source_on_delete {
	ON_DELETE_KEEP,		/* outputs of deleted objects stay */
	ON_DELETE_REMOVE	/* and are removed with them */
};

struct source {
	char		 *name;
	int		  line;
	enum source_type  type;
	char		 *path;		/* dir: absolute */
	int		  path_line;
	int		  recipes_line;
	struct strv	  include;
	struct strv	  exclude;
	struct strv	  recipe_names;
	struct recipe	**recipes;
	size_t		  nrecipes;
	struct strv	  skip_roots;	/* output roots inside this source */
	int		  follow;	/* dir: its recipes follow growing logs */

	/* type = s3; see source-s3.c and s3.c */
	char		 *endpoint;	/* host[:port] */
	char		 *bucket;
	char		 *prefix;	/* only keys under it */
	char		 *access_key;	/* as written: a key or env:NAME */
	char		 *secret_key;
	char		 *access_key_value;	/* resolved; never printed */
	char		 *secret_key_value;
	int		  https;	/* 1 yes, 0 no */
	int		  uri_style;	/* 0 path, 1 virtual */
	double		  poll;		/* seconds between listings */
	char		 *webhook_token;	/* as written: a token or env:NAME */
	char		 *webhook_token_value;
	char		 *region;	/* V4 credential scope; us-east-1 */
	int		  signature;	/* enum s3_signature */
	char		 *session_token;	/* as written, or env:NAME */
	char		 *session_token_value;
	char		 *ca_file;	/* NULL: the system's CA bundle */
	double		  settle;	/* dir: seconds a file must stay still */
	double		  reconcile;	/* dir: seconds between reconciles */
	int		  on_delete;	/* enum source_on_delete */
};

struct config {
	char		 *file;		/* absolute */
	char		 *dir;		/* the folder it is in */
	char		 *database;	/* NULL: the embedded cluster */
	char		 *state_dir;	/* absolute */
	int		  workers;	/* resolved: > 0 */
	char		 *listen;
	int		  log_json;
	int		  log_level;	/* enum log_level */
	int		  log_level_set; /* as configured, before -v */
	char		 *log_file;	/* NULL: standard error */
	double		  lease;	/* seconds */
	int		  max_attempts;
	double		  poll;		/* seconds between claims when idle */
	long long	  max_pixels;	/* defaults for every recipe */
	long long	  max_input_bytes;
	int		  max_pages;
	struct source	**sources;
	size_t		  nsources;
	size_t		  nsources_all;	/* 0, or more kept past nsources */
	struct recipe	**recipes;
	size_t		  nrecipes;
	struct schedule	**schedules;
	size_t		  nschedules;
};
struct config	*config_load(const char *path, struct strv *errors);
void		 config_free(struct config *);
void		 config_print(const struct config *, FILE *);
struct recipe	*config_find_recipe(const struct config *, const char *);
struct source	*config_find_source(const struct config *, const char *);

/* cron.c: five-field cron expressions and their fire times, in UTC. */
struct cron {
	uint64_t	 minutes;	/* bit n: minute n */
	uint32_t	 hours;
	uint32_t	 days;		/* bits 1..31 */
	uint16_t	 months;	/* bits 1..12 */
	uint8_t		 weekdays;	/* bits 0..6, 0 is Sunday */
	int		 days_star;	/* the field started with '*' */
	int		 weekdays_star;
};
int	 cron_parse(const char *, struct cron *, char **cause);
int64_t	 cron_next(const struct cron *, int64_t t);
int64_t	 cron_prev(const struct cron *, int64_t t);

/* schedule.c: [schedule.NAME], SQL run once per period. */
enum schedule_format {
	SCHEDULE_CSV,
	SCHEDULE_JSON,		/* one JSON array */
	SCHEDULE_NDJSON		/* one JSON object a line */
};

struct schedule {
	char		*name;
	int		 line;
	double		 every;		/* seconds, or 0 with cron */
	int		 every_line;
	char		*cron;		/* as written */
	int		 cron_line;
	struct cron	 cron_parsed;
	char		*sql;		/* as written, or NULL with sql_file */
	int		 sql_line;
	char		*sql_file;	/* absolute */
	int		 sql_file_line;
	char		*sql_text;	/* what runs, from either */
	char		*into;		/* a table, or NULL */
	int		 into_line;
	char		*output;	/* as written */
	int		 output_line;
	char		*output_template; /* absolute path with fields */
	int		 output_format;	/* enum schedule_format */
	double		 timeout;	/* statement_timeout, seconds */
};
struct schedules;
int	 schedule_resolve(struct schedule *, const char *dir, int *line,
	     char **cause);
void	 schedule_free(struct schedule *);
void	 schedule_print(const struct schedule *, FILE *);
int	 schedule_period(const struct schedule *, int64_t now, int64_t *start,
	     int64_t *next);
char	*schedule_output_path(const struct schedule *, int64_t start);
void	 schedule_csv_field(struct buf *, const char *);
struct schedules *schedules_start(const struct config *,
	     volatile sig_atomic_t *stop);
void	 schedules_join(struct schedules *);
int	 schedule_status_print(PGconn *, FILE *, char **cause);

/* deliver.c: completion webhooks, delivered at least once. */
struct deliverer;
int	 deliver_resolve(struct recipe *, int *line, char **cause);
void	 deliver_print(const struct recipe *, FILE *);
int	 deliver_begin(PGconn *, const char *recipe, int final);
int	 deliver_end(PGconn *, int began, int ok, int64_t job,
	     const char *recipe, const char *event, char **cause);
struct deliverer *deliver_start(const struct config *,
	     volatile sig_atomic_t *stop);
void	 deliver_join(struct deliverer *);
void	 deliver_sign(const char *secret, const char *timestamp,
	     const char *body, char out[65]);
double	 deliver_backoff(int attempts);
int	 deliver_status_print(PGconn *, FILE *, char **cause);

/* cluster.c: the embedded PostgreSQL cluster under state_dir. */
struct cluster;
struct cluster	*cluster_open(const char *state_dir, char **cause);
int		 cluster_start(struct cluster *, char **cause);
const char	*cluster_url(const struct cluster *);
int		 cluster_answers(const struct cluster *);
int		 cluster_check_running(const struct cluster *, char **cause);
int		 cluster_revive(struct cluster *, int *restarted, char **cause);
void		 cluster_close(struct cluster *);

/* db.c: connections, migrations and the database URL. */
int	 db_setup(const struct config *, char **cause);
int	 db_attach(const struct config *, char **cause);
void	 db_supervise_start(void);
void	 db_supervise_stop(void);
int	 db_embedded_state(double *since, unsigned long *restarts,
	     char **last_error);
int	 db_reconnecting(void);
const char *db_url(void);
void	 db_teardown(void);
PGconn	*db_connect(char **cause);
PGconn	*db_connect_retry(volatile sig_atomic_t *stop);
int	 db_ok(PGconn *);
int	 db_exec(PGconn *, const char *sql, char **cause);
int	 db_exec_params(PGconn *, const char *sql, int n,
	     const char *const *params, char **cause);
char	*db_text_array(const char *const *, size_t);
void	 db_close(PGconn *);
int	 db_ping(PGconn *, char **cause);
int	 db_begin(PGconn *, char **cause);
int	 db_commit(PGconn *, char **cause);
void	 db_rollback(PGconn *);
int	 db_listen_jobs(PGconn *, char **cause);
int	 db_socket(PGconn *);
int	 db_notified(PGconn *);
int	 db_set_name(PGconn *, const char *name, char **cause);
int	 db_lock_poller(PGconn *, const char *source, int *got,
	     char **cause);
int	 db_now(PGconn *, double *, char **cause);
PGresult *db_exec_prepared(PGconn *, const char *name, const char *sql,
	    int nparams, const char *const *params);
int	 db_migrate(PGconn *, int verbose, char **cause);
char	*db_error(PGconn *, PGresult *);
int	 db_lib_version(void);

/* queue.c: jobs in PostgreSQL. */
struct object_version {
	const char	*source;
	const char	*key;
	const char	*version;
	int64_t		 size;
	int64_t		 mtime_ns;
	int64_t		 inode;
	const char	*etag;		/* S3, else NULL */
};

struct claimed_job {
	int64_t		 id;
	int64_t		 object_id;
	char		*source;
	char		*key;
	char		*version;
	char		*recipe;
	char		*recipe_hash;
	int		 attempts;
	int		 max_attempts;
	int		 waits;		/* outages waited out so far */
	double		 queued_s;	/* seconds it was ready before the claim */
	double		 seen_s;	/* seconds since its object was seen */
	int		 need_info;	/* the object has no info yet */
	int64_t		 size;		/* as listed, -1 when unknown */
	char		*info;		/* JSON recorded with the outcome */
	int		 info_refresh;	/* replace the object's info if set */
	int64_t		 parent_job_id;	/* a chained job's upstream, else 0 */
	char		*input_location; /* its upstream's output, else NULL */
};

struct job_output {
	char		*location;
	const char	*format;
	const char	*mime;
	int		 width;
	int		 height;
	int64_t		 bytes;
	const char	*sha256;	/* hex, of what was written, or NULL */
	const char	*input_sha256;	/* hex, of what was read, or NULL */
};

int	 queue_enqueue_batch(PGconn *, const struct source *,
	     const struct object_version *, size_t, int max_attempts,
	     int *njobs, char **cause);
int	 queue_enqueue(PGconn *, const struct source *,
	     const struct object_version *, int max_attempts, int *njobs,
	     char **cause);
int	 queue_lease_holders(PGconn *, const char *prefix, struct strv *,
	     char **cause);
int	 queue_release_holder(PGconn *, const char *holder, int *n,
	     char **cause);
int	 queue_claim(PGconn *, const char *worker, double lease,
	     struct claimed_job *, int *got, char **cause);
int	 queue_complete(PGconn *, const char *worker,
	     const struct claimed_job *, const struct recipe *,
	     const struct job_output *, char **cause);
int	 queue_fail(PGconn *, const char *worker, const struct claimed_job *,
	     const struct job_error *, char **cause);
void	 claimed_job_clear(struct claimed_job *);
int	 queue_reprocess(PGconn *, const struct config *, int *njobs,
	     char **cause);
/* How the jobs of the configured sources stand, for `objwatch scan`. */
struct queue_progress {
	long long	 done;		/* finished since the start */
	long long	 pending;	/* still to run */
	long long	 failed;	/* failed for good since the start */
};
int	 queue_scan_progress(PGconn *, const struct config *,
	     const char *since, struct queue_progress *, char **cause);
/* A recipe's unfinished jobs, for the queue gauges. */
struct queue_depth {
	char	*recipe;
	double	 jobs;
};
int	 queue_depths(PGconn *, struct queue_depth **, size_t *,
	     double *oldest_s, char **cause);
void	 queue_depths_free(struct queue_depth *, size_t);
double	 queue_backoff(int attempts);

/* ledger.c: the ledger one folder at a time, for reconciles. */
struct ledger_entry {
	char		*key;
	char		*version;
	int		 complete;	/* has a job for every recipe */
};

struct ledger_folder {
	struct ledger_entry	*v;	/* sorted by key, then version */
	size_t			 n;
};

enum ledger_scope {
	LEDGER_KEYS,		/* these keys */
	LEDGER_TREE		/* a folder and everything under it */
};
int	 ledger_folder_read(PGconn *, const struct source *,
	     const char *folder, struct ledger_folder *, char **cause);
void	 ledger_folder_clear(struct ledger_folder *);
int	 ledger_entry_cmp(const void *, const void *);
int	 ledger_folders(PGconn *, const char *source, struct strv *,
	     char **cause);
int	 ledger_delete(PGconn *, const struct source *, enum ledger_scope,
	     const struct strv *, struct strv *outputs, int *n, char **cause);
int	 ledger_live(PGconn *, const char *source, struct ledger_folder *,
	     char **cause);

/* source-dir.c: watched folders (one thread for all: libinotifytools). */
struct dir_watcher;
struct dir_watcher *dir_watcher_start(const struct config *,
	     volatile sig_atomic_t *stop, char **cause);
void	 dir_watcher_join(struct dir_watcher *);
int	 dir_source_check(const struct source *, char **cause);

/* fetch-file.c: a dir source's file for a job, by key and version. */
struct stat;
char	*fetch_file_version(const struct stat *);
char	*fetch_file_path(const struct source *, const char *key);
int	 fetch_file_output_fd(const struct recipe *up, const struct source *,
	     const char *location, int *fd, size_t *len, struct job_error *);
int	 fetch_file_output(const struct recipe *up, const struct source *,
	     const char *location, void **, size_t *, struct job_error *);
int	 fetch_file_fd(const struct source *, const struct claimed_job *,
	     int *fd, size_t *len, struct job_error *);
int	 fetch_file(const struct source *, const struct claimed_job *,
	     void **, size_t *, struct job_error *);

/* fetch.c: an object's bytes, from whichever kind of source holds it. */
int	 fetch_output_fd(const struct recipe *, const struct source *,
	     const struct claimed_job *, int spool, int *fd, uint64_t *len,
	     struct job_error *);
int	 fetch_output(const struct recipe *, const struct source *,
	     const struct claimed_job *, void **, size_t *,
	     struct job_error *);
int	 source_fetch(const struct source *, const struct claimed_job *,
	     void **, size_t *, struct job_error *);

/* status.c: the queue at a glance. */
int	 status_print(PGconn *, int json, FILE *, char **cause);
int	 status_heartbeat(PGconn *, const char *host, const char *json,
	     char **cause);
int	 status_forget(PGconn *, const char *host, char **cause);

/* health.c: the live state of the daemon's parts. */
enum health_state {
	HEALTH_STARTING,
	HEALTH_OK,		/* watching, or its last poll succeeded */
	HEALTH_STANDBY,		/* another process polls it */
	HEALTH_FAILING,
	HEALTH_STOPPED
};
struct health_beat;
void	 health_reset(const struct config *);
void	 health_source(const char *name, enum health_state,
	     const char *error);
void	 health_source_ready(const char *name);
int	 health_source_is_ready(const char *name);
int	 health_source_is_ok(const char *name);
int	 health_source_is_failing(const char *name);
void	 health_export_metrics(void);
void	 health_worker(int alive, int busy);
char	*health_json(int db_ok, int *healthy, int *ready);
struct health_beat *health_beat_start(volatile sig_atomic_t *stop);
void	 health_beat_join(struct health_beat *);

/* retry.c: requeue failed and dead jobs. */
struct retry_filter {
	int		 dead;		/* dead jobs too, not only failed */
	const char	*recipe;
	const char	*source;
	const char	*error_class;
	const char	*key_like;	/* SQL LIKE pattern on the key */
	double		 since;		/* finished in the last seconds */
};
int	 retry_jobs(PGconn *, const struct retry_filter *, long long *,
	     char **cause);

/* wait.c: objwatch wait, until an object's jobs are final. */
#define WAIT_DONE	0	/* every job done */
#define WAIT_FAILED	1	/* some failed for good or dead */
#define WAIT_ERROR	2	/* usage, config or database */
#define WAIT_TIMEOUT	3	/* not final within the timeout */
int	 wait_object(PGconn *, const char *source, const char *key,
	     const struct strv *recipes, double timeout, FILE *,
	     char **cause);

/* copy.c: copy recipes, streamed, with the SHA-256 of both sides. */
struct copy_result {
	int64_t		 in_bytes;
	int64_t		 out_bytes;
	char		 in_sha256[65];
	char		 out_sha256[65];
};
char	*copy_ext(const char *key, int gzip);
const char *copy_mime(const char *key, int gzip);
char	*copy_format(const char *key, int gzip);
int	 copy_fd(int in_fd, uint64_t len, const char *in_name, int out_fd,
	     const char *out_name, int level, struct copy_result *,
	     struct job_error *);
int	 copy_run(const struct recipe *, const struct source *,
	     const struct claimed_job *, const char *location,
	     const char *state_dir, struct copy_result *, struct job_error *);

/* store-file.c: outputs in folders. */
char	*store_file_path(const struct recipe *, const struct source *,
	     const char *location);
int	 store_file_put(const char *path, const void *, size_t,
	     struct job_error *);
int	 store_file_begin(const char *path, char **tmp, int *fd,
	     struct job_error *);
void	 store_file_error(struct job_error *, const char *tmp,
	     const char *what, int e);
int	 store_file_flush(const char *tmp, int fd, struct job_error *);
int	 store_file_commit(const char *tmp, const char *path, int fd,
	     struct job_error *);
void	 store_file_discard(const char *tmp, int fd);

/* sigv4.c: AWS Signature Version 4. */
struct sigv4_param {
	const char	*name;
	const char	*value;		/* NULL: none ("name=") */
};
struct sigv4_request {
	const char	*method;
	const char	*path;		/* not encoded: "/bucket/a b.jpg" */
	const struct sigv4_param *query;
	size_t		 nquery;
	const struct sigv4_param *headers;	/* every header to sign */
	size_t		 nheaders;
	const char	*payload_hash;	/* hex SHA-256, or UNSIGNED-PAYLOAD */
	const char	*region;
	const char	*service;
	const char	*access_key;
	const char	*secret_key;
	const char	*amz_date;	/* 20130524T000000Z */
};
extern const char sigv4_empty_hash[];
void	 sha256_hex(const void *, size_t, char out[65]);
void	 sigv4_amz_date(time_t, char out[17]);
char	*sigv4_uri_encode(const char *, int encode_slash);
char	*sigv4_query(const struct sigv4_param *, size_t);
char	*sigv4_authorization(const struct sigv4_request *, char **canonical);

/* s3.c: S3 requests over libcurl, signed V4 (or V2, listed by libs3). */
struct s3_object {
	char		*key;
	char		*etag;		/* without quotes */
	uint64_t	 size;
	int64_t		 mtime;		/* seconds since the epoch */
};
struct s3_listing {
	struct s3_object *v;
	size_t		  n;
	size_t		  size;		/* allocated */
	int		  requests;	/* pages asked for */
};
int	 s3_init(char **cause);
void	 s3_cleanup(void);
int	 s3_get(const struct source *, const char *key, uint64_t limit,
	     void **, size_t *, char **etag, char **loop_source,
	     struct job_error *);
int	 s3_get_fd_from(const struct source *, const char *bucket,
	     const char *key, uint64_t limit, int fd, uint64_t *len,
	     char **etag, char **loop_source, struct job_error *);
int	 s3_get_from(const struct source *, const char *bucket,
	     const char *key, uint64_t limit, void **, size_t *, char **etag,
	     char **loop_source, struct job_error *);
int	 s3_put(const struct source *via, const char *bucket, const char *key,
	     const void *, size_t, const char *mime, const char *from_source,
	     struct job_error *);
int	 s3_put_file(const struct source *via, const char *bucket,
	     const char *key, int fd, uint64_t size, const char *mime,
	     const char *from_source, char sha256[65], struct job_error *);
int	 s3_fetch_fd(const struct source *, const struct claimed_job *,
	     uint64_t limit, int fd, uint64_t *len, struct job_error *);
int	 s3_delete(const struct source *, const char *bucket, const char *key,
	     char **cause);
int	 s3_head(const struct source *, const char *key, char **etag,
	     int64_t *size, char **cause);
int	 s3_list(const struct source *, struct s3_listing *, char **cause);
int	 s3_list_page(const struct source *, const char *start_after,
	     const char *token, int max_keys, struct s3_listing *,
	     char **next_token, char **cause);
int	 s3_list_parse(const char *xml, size_t len, struct s3_listing *,
	     int *truncated, char **next_token, char **cause);
void	 s3_listing_clear(struct s3_listing *);
int	 s3_fetch(const struct source *, const struct claimed_job *,
	     void **, size_t *, struct job_error *);
int	 s3_is_output(const struct source *, const char *key);
int	 s3_check_connect(const struct source *, char **report);
char	*s3_error_explain(const struct source *, const char *bucket,
	     const char *what, int object, long code, const char *body,
	     const char *bucket_region, int *how);

/* source-s3.c: one poller thread per s3 source. */
struct s3_pollers;
struct s3_pollers *s3_pollers_start(const struct config *,
	     volatile sig_atomic_t *stop);
void	 s3_pollers_join(struct s3_pollers *);
int	 s3_source_wants(const struct source *, const char *key);

/* events.c: S3 event notification bodies (AWS, MinIO, Ceph, COS). */
struct s3_event {
	char		*bucket;
	char		*key;		/* decoded */
	char		*etag;
	int64_t		 size;		/* -1 when not given */
	int64_t		 mtime_ns;	/* 0 when not given */
	int		 removed;	/* ObjectRemoved:* */
};
struct s3_events {
	struct s3_event	*v;
	size_t		 n;
};
int	 events_parse(const char *body, size_t len, struct s3_events *,
	     char **cause);
void	 events_clear(struct s3_events *);

/* http.c: the webhook and health endpoint (libmicrohttpd). */
struct http_server;
struct http_server *http_start(const struct config *, char **cause);
void	 http_stop(struct http_server *);
void	 http_set_config(struct http_server *, const struct config *);
unsigned int http_port(const struct http_server *);

/* store.c: an output, to whichever kind of place its recipe names. */
int	 store_remove(const struct source *, const char *location,
	     char **cause);
size_t	 store_remove_all(const struct source *, const struct strv *);
int	 store_put(const struct recipe *, const char *location, const void *,
	     size_t, const char *mime, const struct source *,
	     struct job_error *);

/* worker.c: the worker pool. */
struct workers;
struct workers	*workers_start(const struct config *,
		     volatile sig_atomic_t *stop);
void		 workers_join(struct workers *);
const char	*worker_host(void);
void		 workers_release_dead(PGconn *);

/* metrics.c: counters, gauges and histograms for GET /metrics. */
void	 metrics_count(const char *name, double, const char *k1,
	     const char *v1, const char *k2, const char *v2);
void	 metrics_set_labels(const char *name, double, const char *k1,
	     const char *v1, const char *k2, const char *v2);
void	 metrics_zero(const struct config *);
void	 metrics_set(const char *name, double, const char *k1,
	     const char *v1);
void	 metrics_observe(const char *name, const char *recipe, double);
char	*metrics_render(PGconn *);

/* daemon.c: everything `objwatch run` starts, as one. */
struct daemon {
	const struct config	*conf;
	volatile sig_atomic_t	 stop;
	struct workers		*workers;
	struct dir_watcher	*dirs;
	struct s3_pollers	*pollers;
	struct http_server	*http;
	char			*listen;	/* where http listens */
	struct health_beat	*beat;
	struct schedules	*schedules;
	struct deliverer	*deliverer;
};
int	 daemon_start(struct daemon *, const struct config *, char **cause);
void	 daemon_stop(struct daemon *);
int	 daemon_reload(struct daemon *, const struct config *, char **cause);
int	 daemon_start_workers(struct daemon *, const struct config *,
	     char **cause);

/* scan.c: objwatch scan, a backfill with progress. */
#define SCAN_FAILED	1	/* drained, but some jobs failed or died */
int	 scan_run(const struct config *, volatile sig_atomic_t *, char **);

/* notify.c: telling systemd how `objwatch run` is doing (Type=notify). */
void	 notify_init(void);
void	 notify_started(const struct config *);
void	 notify_reloaded(const struct config *);
int	 notify_sigwait(const sigset_t *, int *sig);
void	 notify_reloading(const struct config *);
void	 notify_stopping(void);

#endif /* OBJWATCH_H */
