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

#include <libpq-fe.h>

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

/* log.c: OpenBSD-style logging to stderr, one line per call. */
enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};
void	 log_init(enum log_level, int json);
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
int	 write_file_atomic(const char *, const void *, size_t, char **cause);
int	 parse_duration(const char *, double *);
int	 parse_size(const char *, uint64_t *);
double	 now_monotonic(void);
int	 ncpus(void);

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

/* A job's failure: class, whether retrying may help, and the message. */
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
	struct _VipsImage	*image;
	const char		*loader;	/* the loader's nickname */

	void			*out;		/* g_malloc'd, g_free */
	size_t			 outlen;
	const char		*format;	/* jpeg, png, webp */
	const char		*ext;		/* jpg, png, webp */
	const char		*mime;
	int			 width;
	int			 height;

	struct job_error	 error;
};

#define HANDLER_LOADS	(1 << 0)	/* may come first and load itself */
#define HANDLER_SAVES	(1 << 1)	/* must come last */

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
int	 image_job_load(struct image_job *);

extern const struct handler handler_thumbnail;
extern const struct handler handler_save;

enum output_kind {
	OUTPUT_DIR,
	OUTPUT_S3
};

struct recipe {
	char		*name;
	int		 line;
	char		*steps_text;
	int		 steps_line;
	struct step	*steps;
	size_t		 nsteps;
	char		*output;	/* as written, e.g. "dir:/srv/{key}.{ext}" */
	int		 output_line;
	enum output_kind output_kind;
	char		*output_template; /* after the prefix, absolute for dir */
	char		*output_root;	/* fixed part before the first field */
	char		 hash[17];	/* hex, over the canonical steps */
};
int	 recipe_parse_steps(struct recipe *, char **cause);
void	 recipe_free_steps(struct recipe *);
int	 recipe_run(const struct recipe *, struct image_job *);
void	 image_job_clear(struct image_job *);
void	 images_init(const char *argv0);
char	*image_error(void);

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
	double		  lease;	/* seconds */
	int		  max_attempts;
	double		  poll;		/* seconds between claims when idle */
	struct source	**sources;
	size_t		  nsources;
	struct recipe	**recipes;
	size_t		  nrecipes;
};
struct config	*config_load(const char *path, struct strv *errors);
void		 config_free(struct config *);
void		 config_print(const struct config *, FILE *);
struct recipe	*config_find_recipe(const struct config *, const char *);
struct source	*config_find_source(const struct config *, const char *);

/* cluster.c: the embedded PostgreSQL cluster under state_dir. */
struct cluster;
struct cluster	*cluster_open(const char *state_dir, char **cause);
int		 cluster_start(struct cluster *, char **cause);
const char	*cluster_url(const struct cluster *);
void		 cluster_close(struct cluster *);

/* db.c: connections, migrations and the database URL. */
int	 db_setup(const struct config *, char **cause);
const char *db_url(void);
void	 db_teardown(void);
PGconn	*db_connect(char **cause);
PGconn	*db_connect_retry(volatile sig_atomic_t *stop);
int	 db_ok(PGconn *);
int	 db_exec(PGconn *, const char *sql, char **cause);
int	 db_migrate(PGconn *, int verbose, char **cause);
char	*db_error(PGconn *, PGresult *);

/* queue.c: jobs in PostgreSQL. */
struct object_version {
	const char	*source;
	const char	*key;
	const char	*version;
	int64_t		 size;
	int64_t		 mtime_ns;
	int64_t		 inode;
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
};

struct job_output {
	char		*location;
	const char	*format;
	const char	*mime;
	int		 width;
	int		 height;
	int64_t		 bytes;
};

int	 queue_enqueue(PGconn *, const struct source *,
	     const struct object_version *, int max_attempts, int *njobs,
	     char **cause);
int	 queue_known(PGconn *, const char *source, const char *key,
	     const char *version, int *known, char **cause);
int	 queue_claim(PGconn *, const char *worker, double lease,
	     struct claimed_job *, int *got, char **cause);
int	 queue_complete(PGconn *, const char *worker,
	     const struct claimed_job *, const char *recipe_hash,
	     const struct job_output *, char **cause);
int	 queue_fail(PGconn *, const char *worker, const struct claimed_job *,
	     const struct job_error *, char **cause);
void	 claimed_job_clear(struct claimed_job *);
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
int	 ledger_enqueue(PGconn *, const struct source *,
	     const struct object_version *, size_t, int max_attempts,
	     int *njobs, char **cause);
int	 ledger_delete(PGconn *, const struct source *, enum ledger_scope,
	     const struct strv *, struct strv *outputs, int *n, char **cause);

/* source-dir.c: watched folders (one thread for all: libinotifytools). */
struct dir_watcher;
struct dir_watcher *dir_watcher_start(const struct config *,
	     volatile sig_atomic_t *stop, char **cause);
void	 dir_watcher_join(struct dir_watcher *);
int	 dir_source_check(const struct source *, char **cause);
int	 dir_version(const char *path, char **version,
	     struct object_version *, char **cause);
int	 dir_fetch(const struct source *, const struct claimed_job *,
	     void **, size_t *, struct job_error *);

/* fetch.c: an object's bytes, from whichever kind of source holds it. */
int	 source_fetch(const struct source *, const struct claimed_job *,
	     void **, size_t *, struct job_error *);

/* store-file.c: outputs in folders. */
int	 store_file_put(const char *path, const void *, size_t,
	     struct job_error *);

/* store.c: an output, to whichever kind of place its recipe names. */
int	 store_put(const struct recipe *, const char *location, const void *,
	     size_t, const char *mime, struct job_error *);

/* worker.c: the worker pool. */
struct workers;
struct workers	*workers_start(const struct config *,
		     volatile sig_atomic_t *stop);
void		 workers_join(struct workers *);
int		 worker_process_bytes(const struct recipe *, const void *,
		     size_t, const char *name, struct image_job *);

#endif /* OBJWATCH_H */
