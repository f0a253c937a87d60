/*
 * A lines job's rows, into its recipe's table.
 *
 * table_prepare makes sure the table is there and fits the recipe: it
 * creates it from the declared columns when it is missing (object_id and
 * line_no first, their pair the key), or says what differs in one that
 * exists. Creating takes an advisory lock for the table's name, so two
 * workers seeing it missing at once do not both create it.
 *
 * table_load runs in the transaction the worker opened, which also marks
 * the job done: it removes the rows and rejects an earlier version of the
 * same object left (a file rewritten, an object overwritten: its rows are
 * replaced, not added to), streams the new rows with COPY FROM STDIN in
 * text format, then writes the rejects and the load's counts. A crash at
 * any point rolls all of it back and the job runs again; a retry starts
 * from an empty slate for the object. Nothing is half-loaded.
 *
 * Rows are built by src/lineparse.c, which checks and converts every
 * value, so the COPY itself does not fail on a bad line: a line either
 * becomes a row or a reject with its reason, never a failed file.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include <libpq-fe.h>

#include "objwatch.h"
#include "banned.h"

/* COPY data is sent in pieces of about this size. */
#define TABLE_FLUSH	(256 * 1024)
/* The bytes of a rejected line kept in rejects.raw. */
#define TABLE_RAW_MAX	4096
/* A file is read in pieces of this size. */
#define TABLE_PIECE	(1024 * 1024)
/* The first text bytes that identify a followed file, under a checksum. */
#define TABLE_HEAD	4096
/* A file under another inode is the same only if this much of it matches. */
#define TABLE_HEAD_COPY	1024

/* Where a followed file's last load ended, when it has one. */
struct table_resume {
	int64_t		 offset;
	int64_t		 line;
};

struct table_run {
	PGconn			*conn;
	const struct recipe	*r;
	const struct claimed_job *job;
	struct lines_parser	*lp;
	struct buf		 copy;
	struct buf		 rejects;
	struct table_stats	*st;
	char			 prefix[64];	/* "object_id\t" */
	size_t			 prefixlen;
	int			 max_rejects;
	int64_t			 skip_to;	/* loaded before: skip up to */
	int			 header;	/* csv header=yes */
	char			*fail;		/* stops the split */
	int			 fail_decode;	/* the input's fault */
};

static const struct lines_spec *
table_spec(const struct recipe *r)
{
	return (r->steps[0].data);
}

/* The table's name as the recipe writes it (after table:), for people. */
static const char *
table_name(const struct recipe *r)
{
	return (r->output + 6);
}

/* The column list of the COPY and the CREATE, quoted. */
static void
table_columns(struct buf *b, const struct lines_spec *spec, int types)
{
	size_t	 i;

	buf_printf(b, types ? "object_id bigint NOT NULL, line_no bigint NOT "
	    "NULL" : "object_id, line_no");
	for (i = 0; i < lines_ncolumns(spec); i++) {
		buf_printf(b, ", \"%s\"", lines_column_name(spec, i));
		if (types)
			buf_printf(b, " %s", lines_column_sql_type(spec, i));
	}
}

/* Create the table, under a lock so that only one worker does. */
static int
table_create(PGconn *conn, const struct recipe *r, char **cause)
{
	const char	*p[1] = { r->output_table }, *dot;
	struct buf	 sql;
	PGresult	*res;
	int		 rc = -1;

	if (db_exec(conn, "BEGIN", cause) != 0)
		return (-1);
	res = PQexecParams(conn, "SELECT pg_advisory_xact_lock("
	    "hashtext('objwatch.table:' || $1))", 1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		goto out;
	}
	PQclear(res);
	buf_init(&sql);
	/* "schema"."name": the schema too, as the recipe names it */
	if ((dot = strstr(r->output_table, "\".\"")) != NULL)
		buf_printf(&sql, "CREATE SCHEMA IF NOT EXISTS %.*s\"; ",
		    (int)(dot - r->output_table), r->output_table);
	buf_printf(&sql, "CREATE TABLE IF NOT EXISTS %s (", r->output_table);
	table_columns(&sql, table_spec(r), 1);
	buf_printf(&sql, ", PRIMARY KEY (object_id, line_no))");
	rc = db_exec(conn, sql.s, cause);
	buf_clear(&sql);
	if (rc == 0)
		rc = db_exec(conn, "COMMIT", cause);
out:
	if (rc != 0 && db_ok(conn))
		PQclear(PQexec(conn, "ROLLBACK"));
	if (rc == 0)
		log_info("recipe '%s': created table %s", r->name,
		    r->output_table);
	return (rc);
}

/* The type the table gives a column, or NULL when it has none. */
static const char *
table_has(PGresult *res, const char *name)
{
	int	 i;

	for (i = 0; i < PQntuples(res); i++)
		if (strcmp(PQgetvalue(res, i, 0), name) == 0)
			return (PQgetvalue(res, i, 1));
	return (NULL);
}

/*
 * Make sure the recipe's table exists with the columns it declares.
 * Returns 0, or -1 with *cause and *config set when the table is not the
 * recipe's to load (a column missing or of another type) rather than a
 * database trouble.
 */
int
table_prepare(PGconn *conn, const struct recipe *r, int *config,
    char **cause)
{
	static const char cols_sql[] =
		"SELECT a.attname, format_type(a.atttypid, a.atttypmod)"
		" FROM pg_attribute a"
		" WHERE a.attrelid = to_regclass($1) AND a.attnum > 0"
		"   AND NOT a.attisdropped ORDER BY a.attnum";
	const struct lines_spec	*spec = table_spec(r);
	const char		*p[1] = { r->output_table }, *type;
	struct buf		 diff;
	PGresult		*res;
	size_t			 i;
	int			 tries;

	*config = 0;
	for (tries = 0; ; tries++) {
		res = PQexecParams(conn, cols_sql, 1, NULL, p, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			*cause = db_error(conn, res);
			PQclear(res);
			return (-1);
		}
		if (PQntuples(res) > 0 || tries > 0)
			break;
		PQclear(res);
		if (table_create(conn, r, cause) != 0)
			return (-1);
	}
	buf_init(&diff);
	if ((type = table_has(res, "object_id")) == NULL ||
	    strcmp(type, "bigint") != 0 ||
	    (type = table_has(res, "line_no")) == NULL ||
	    strcmp(type, "bigint") != 0)
		buf_printf(&diff, "; it needs object_id bigint and line_no "
		    "bigint, the columns objwatch adds");
	for (i = 0; i < lines_ncolumns(spec); i++) {
		type = table_has(res, lines_column_name(spec, i));
		if (type == NULL)
			buf_printf(&diff, "; it has no column '%s' (ALTER "
			    "TABLE %s ADD COLUMN \"%s\" %s)",
			    lines_column_name(spec, i), r->output_table,
			    lines_column_name(spec, i),
			    lines_column_sql_type(spec, i));
		else if (strcmp(type, lines_column_sql_type(spec, i)) != 0)
			buf_printf(&diff, "; column '%s' is %s and the recipe "
			    "declares %s", lines_column_name(spec, i), type,
			    lines_column_sql_type(spec, i));
	}
	PQclear(res);
	if (diff.len == 0) {
		buf_clear(&diff);
		return (0);
	}
	xasprintf(cause, "table %s does not fit recipe '%s'%s", r->output_table,
	    r->name, diff.s);
	buf_clear(&diff);
	*config = 1;
	return (-1);
}

/* Send what is buffered of the COPY; -1 with t->fail on failure. */
static int
table_flush(struct table_run *t)
{
	if (t->copy.len == 0)
		return (0);
	if (PQputCopyData(t->conn, t->copy.s, (int)t->copy.len) != 1) {
		t->fail = db_error(t->conn, NULL);
		return (-1);
	}
	t->copy.len = 0;
	t->copy.s[0] = '\0';
	return (0);
}

/* A line for people to read: bad bytes and NULs as U+FFFD, for COPY. */
static void
table_readable(struct buf *b, const char *line, size_t len)
{
	const unsigned char	*p = (const unsigned char *)line;
	unsigned int		 cp;
	size_t			 i = 0;
	int			 n;

	while (i < len) {
		if (p[i] == '\\')
			buf_add(b, "\\\\", 2);
		else if (p[i] == '\t')
			buf_add(b, "\\t", 2);
		else if (p[i] == '\r')
			buf_add(b, "\\r", 2);
		else if (p[i] == '\n')
			buf_add(b, "\\n", 2);
		else if (p[i] == 0)
			buf_add(b, "\xef\xbf\xbd", 3);
		else if (p[i] < 0x80)
			buf_add(b, p + i, 1);
		else {
			if ((n = utf8_sequence_n(p + i, len - i, &cp)) == 0)
				buf_add(b, "\xef\xbf\xbd", 3);
			else {
				buf_add(b, p + i, n);
				i += n;
				continue;
			}
		}
		i++;
	}
}

/* Keep a rejected line (while under max_rejects) as a COPY row. */
static void
table_reject(struct table_run *t, const char *line, size_t len,
    int64_t lineno, const char *why, int truncated)
{
	static const char hex[] = "0123456789abcdef";
	size_t		 i, n;

	t->st->rejected++;
	if (t->st->rejects_kept >= t->max_rejects)
		return;
	t->st->rejects_kept++;
	n = len < TABLE_RAW_MAX ? len : TABLE_RAW_MAX;
	if (n < len)
		truncated = 1;
	buf_printf(&t->rejects, "%" PRId64 "\t%" PRId64 "\t", t->job->id,
	    t->job->object_id);
	table_readable(&t->rejects, t->r->name, strlen(t->r->name));
	buf_add(&t->rejects, "\t", 1);
	table_readable(&t->rejects, table_name(t->r), strlen(table_name(t->r)));
	buf_printf(&t->rejects, "\t%" PRId64 "\t", lineno);
	table_readable(&t->rejects, why, strlen(why));
	buf_add(&t->rejects, "\t", 1);
	table_readable(&t->rejects, line, n);
	buf_add(&t->rejects, "\t\\\\x", 4);
	for (i = 0; i < n; i++) {
		char	 h[2];

		h[0] = hex[(unsigned char)line[i] >> 4];
		h[1] = hex[(unsigned char)line[i] & 15];
		buf_add(&t->rejects, h, 2);
	}
	buf_printf(&t->rejects, "\t%s\n", truncated ? "t" : "f");
}

/* The splitter's callback: one line into a row, a drop or a reject. */
static int
table_line(void *arg, const char *line, size_t len, int64_t lineno,
    int64_t offset, int truncated)
{
	struct table_run	*t = arg;
	size_t			 mark = t->copy.len;
	char			*why = NULL, *msg;
	int			 rc;

	if (offset < t->skip_to) {
		/* loaded by an earlier job; a header still maps the fields */
		if (lineno == 1 && t->header) {
			buf_add(&t->copy, "", 0);
			rc = lines_parse(t->lp, line, len, lineno, &t->copy,
			    &why);
			t->copy.len = mark;
			t->copy.s[mark] = '\0';
			free(why);
		}
		return (0);
	}
	if (t->st->lines++ == 0)
		t->st->first_line = lineno;
	if (truncated) {
		xasprintf(&msg, "the line is longer than max_line (%zu bytes)",
		    lines_max_line(table_spec(t->r)));
		table_reject(t, line, len, lineno, msg, 1);
		free(msg);
		return (0);
	}
	buf_add(&t->copy, t->prefix, t->prefixlen);
	buf_printf(&t->copy, "%" PRId64 "\t", lineno);
	rc = lines_parse(t->lp, line, len, lineno, &t->copy, &why);
	if (rc == 1) {
		t->st->rows++;
		if (t->copy.len >= TABLE_FLUSH && table_flush(t) != 0)
			return (1);
		return (0);
	}
	t->copy.len = mark;
	t->copy.s[mark] = '\0';
	if (rc == 0)
		t->st->dropped++;
	else if (rc == -1)
		table_reject(t, line, len, lineno, why, 0);
	else {
		t->fail = why;
		t->fail_decode = 1;
		return (1);
	}
	free(why);
	return (0);
}

/* Start a COPY FROM STDIN. */
static int
table_copy_start(PGconn *conn, const char *sql, char **cause)
{
	PGresult	*res;

	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	PQclear(res);
	return (0);
}

/* End a COPY (aborting it with why when not NULL) and read its result. */
static int
table_copy_end(PGconn *conn, const char *why, char **cause)
{
	PGresult	*res;
	int		 rc = 0;

	if (PQputCopyEnd(conn, why) != 1) {
		*cause = db_error(conn, NULL);
		return (-1);
	}
	while ((res = PQgetResult(conn)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0 &&
		    why == NULL) {
			*cause = db_error(conn, res);
			rc = -1;
		}
		PQclear(res);
	}
	return (why != NULL ? -1 : rc);
}

/* The inode of a file's version (size:mtime_ns:inode). */
static const char *
table_inode(const struct claimed_job *job)
{
	const char	*p = strrchr(job->version, ':');

	return (p != NULL ? p + 1 : job->version);
}

/*
 * Where to go on in a followed file: after the last load of the same
 * file, known by its inode and the checksum of its first bytes, or, for a
 * file renamed or copied by log rotation, by a long enough first part
 * alone. Loads of one source and recipe take turns (an advisory lock held
 * to the commit), so two versions of a growing file never both go on from
 * the same place.
 */
static int
table_resume(PGconn *conn, const struct recipe *r,
    const struct claimed_job *job, size_t len, int gzip,
    const unsigned char *head, size_t headlen, struct table_resume *from,
    char **cause)
{
	static const char lock_sql[] =
		"SELECT pg_advisory_xact_lock(hashtext('objwatch.follow:' ||"
		" $1 || ':' || $2))";
	static const char last_sql[] =
		"SELECT head_len, head_crc, end_offset, end_line,"
		"    file_inode IS NOT DISTINCT FROM $3"
		" FROM objwatch.loads"
		" WHERE source = $1 AND recipe = $2 AND head_len <= $4::integer"
		"   AND (file_inode = $3 OR head_len >= $5::integer)"
		" ORDER BY job_id DESC LIMIT 200";
	const char	*p[5];
	char		 hl[16], copy[16];
	PGresult	*res;
	uLong		 crc;
	size_t		 n;
	int		 i;

	memset(from, 0, sizeof *from);
	p[0] = job->source;
	p[1] = r->name;
	if (db_exec_params(conn, lock_sql, 2, p, cause) != 0)
		return (-1);
	snprintf(hl, sizeof hl, "%zu", headlen);
	snprintf(copy, sizeof copy, "%d", TABLE_HEAD_COPY);
	p[2] = table_inode(job);
	p[3] = hl;
	p[4] = copy;
	res = PQexecParams(conn, last_sql, 5, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	for (i = 0; i < PQntuples(res); i++) {
		n = strtoul(PQgetvalue(res, i, 0), NULL, 10);
		crc = crc32(0L, head, (uInt)n);
		if (strtoull(PQgetvalue(res, i, 1), NULL, 10) != crc)
			continue;
		from->offset = strtoll(PQgetvalue(res, i, 2), NULL, 10);
		/* truncated and written again: a new start */
		if (!gzip && (size_t)from->offset > len) {
			from->offset = 0;
			continue;
		}
		from->line = strtoll(PQgetvalue(res, i, 3), NULL, 10);
		break;
	}
	PQclear(res);
	return (0);
}

/* Replace what earlier versions of the object left in the table. */
static int
table_forget(PGconn *conn, const struct recipe *r,
    const struct claimed_job *job, char **cause)
{
	const char	*p[3] = { job->source, job->key, r->name };
	struct buf	 sql;
	int		 rc;

	buf_init(&sql);
	buf_printf(&sql, "DELETE FROM %s WHERE object_id IN (SELECT id FROM "
	    "objwatch.objects WHERE source = $1 AND key = $2)",
	    r->output_table);
	rc = db_exec_params(conn, sql.s, 2, p, cause);
	buf_clear(&sql);
	if (rc != 0)
		return (-1);
	return (db_exec_params(conn, "DELETE FROM objwatch.rejects WHERE recipe = "
	    "$3 AND object_id IN (SELECT id FROM objwatch.objects WHERE "
	    "source = $1 AND key = $2)", 3, p, cause));
}

/*
 * Load an object's lines into the recipe's table, in the transaction open
 * on conn, with its rejects and counts. Returns 0, or -1 with err set: a
 * decode error when the input is at fault (binary, a broken gzip, a csv
 * header without a declared field), storage otherwise.
 */
int
table_load(PGconn *conn, const struct recipe *r,
    const struct claimed_job *job, const struct table_input *in,
    struct table_stats *st, struct job_error *err)
{
	const void		*data = in->data;
	size_t			 len = in->len;
	int			 follow = in->follow;
	unsigned char		 head[TABLE_HEAD], *raw = NULL;
	size_t			 rawlen = 0;
	ssize_t			 got;
	size_t			 headlen = 0;
	struct table_resume	 from;
	const struct lines_spec	*spec = table_spec(r);
	struct lines_split	*split;
	struct table_run	 t;
	struct buf		 sql;
	const char		*p[20];
	char			 n[15][32], *cause = NULL;
	double			 t0 = now_monotonic();
	size_t			 off, piece;
	int			 rc = -1, frc = 0;

	memset(st, 0, sizeof *st);
	memset(&t, 0, sizeof t);
	t.conn = conn;
	t.r = r;
	t.job = job;
	t.st = st;
	t.max_rejects = lines_max_rejects(spec);
	t.prefixlen = (size_t)snprintf(t.prefix, sizeof t.prefix,
	    "%" PRId64 "\t", job->object_id);
	buf_init(&t.copy);
	buf_init(&t.rejects);
	buf_init(&sql);
	t.header = lines_has_header(spec);
	t.lp = lines_parser_new(spec);
	split = lines_split_new(lines_max_line(spec), table_line, &t);

	/* The pieces a file is read in; its first one is its head too. */
	if (in->fd != -1) {
		raw = xmalloc(TABLE_PIECE);
		if ((got = pread(in->fd, raw, TABLE_PIECE < len ? TABLE_PIECE :
		    len, 0)) == -1) {
			xasprintf(&cause, "cannot read '%s': %s", job->key,
			    strerror(errno));
			goto out;
		}
		rawlen = (size_t)got;
		data = raw;
	} else
		rawlen = len;
	if (lines_split_head(data, rawlen, head, sizeof head, &headlen) != 0)
		headlen = 0;
	memset(&from, 0, sizeof from);
	if (follow) {
		if (table_resume(conn, r, job, len, rawlen >= 2 &&
		    ((const unsigned char *)data)[0] == 0x1f &&
		    ((const unsigned char *)data)[1] == 0x8b, head, headlen,
		    &from, &cause) != 0)
			goto out;
		t.skip_to = from.offset;
	} else if (table_forget(conn, r, job, &cause) != 0)
		goto out;
	buf_printf(&sql, "COPY %s (", r->output_table);
	table_columns(&sql, spec, 0);
	buf_printf(&sql, ") FROM STDIN");
	if (table_copy_start(conn, sql.s, &cause) != 0)
		goto out;
	if (in->fd == -1) {
		for (off = 0; off < len && frc == 0; off += piece) {
			piece = len - off < TABLE_PIECE ? len - off : TABLE_PIECE;
			frc = lines_split_feed(split, (const char *)data + off,
			    piece);
		}
	} else {
		/* Up to the size it had when opened: a log grows meanwhile. */
		for (off = 0; off < len && frc == 0; off += rawlen) {
			if (off > 0) {
				got = pread(in->fd, raw, len - off < TABLE_PIECE ?
				    len - off : TABLE_PIECE, (off_t)off);
				if (got == -1) {
					char	*ignored = NULL;

					xasprintf(&cause, "cannot read '%s': %s",
					    job->key, strerror(errno));
					(void)table_copy_end(conn, "read error",
					    &ignored);
					free(ignored);
					goto out;
				}
				if (got == 0)
					break;	/* truncated meanwhile */
				rawlen = (size_t)got;
			}
			frc = lines_split_feed(split, raw, rawlen);
		}
		len = off < len ? off : len;
	}
	/* A followed file's last line may still be being written. */
	if (frc == 0)
		frc = lines_split_finish(split, !follow ||
		    lines_split_gzip(split));
	if (frc == -1) {
		t.fail = xstrdup(lines_split_error(split));
		t.fail_decode = 1;
	}
	if (t.fail == NULL)
		(void)table_flush(&t);
	st->gzip = lines_split_gzip(split);
	st->text_bytes = lines_split_offset(split);
	st->start_offset = from.offset;
	if (st->lines == 0)
		st->first_line = from.line + 1;
	st->bytes = (int64_t)len;
	if (t.fail != NULL) {
		(void)table_copy_end(conn, "the load stopped", &cause);
		free(cause);
		cause = NULL;
		if (t.fail_decode) {
			job_error_set(err, ERROR_DECODE, 0, "'%s': %s",
			    job->key, t.fail);
			goto done;
		}
		cause = t.fail;
		t.fail = NULL;
		goto out;
	}
	if (table_copy_end(conn, NULL, &cause) != 0)
		goto out;
	if (t.rejects.len > 0) {
		if (table_copy_start(conn, "COPY objwatch.rejects (job_id, "
		    "object_id, recipe, table_name, line_no, reason, line, raw, "
		    "truncated) FROM STDIN", &cause) != 0)
			goto out;
		if (PQputCopyData(conn, t.rejects.s, (int)t.rejects.len) != 1) {
			cause = db_error(conn, NULL);
			goto out;
		}
		if (table_copy_end(conn, NULL, &cause) != 0)
			goto out;
	}
	st->seconds = now_monotonic() - t0;
	snprintf(n[0], sizeof n[0], "%" PRId64, job->id);
	snprintf(n[1], sizeof n[1], "%" PRId64, job->object_id);
	snprintf(n[2], sizeof n[2], "%" PRId64, st->lines);
	snprintf(n[3], sizeof n[3], "%" PRId64, st->rows);
	snprintf(n[4], sizeof n[4], "%" PRId64, st->dropped);
	snprintf(n[5], sizeof n[5], "%" PRId64, st->rejected);
	snprintf(n[6], sizeof n[6], "%d", st->rejects_kept);
	snprintf(n[7], sizeof n[7], "%" PRId64, st->bytes);
	snprintf(n[8], sizeof n[8], "%" PRId64, st->text_bytes);
	p[0] = n[0];
	p[1] = n[1];
	p[2] = r->name;
	p[3] = table_name(r);
	p[4] = n[2];
	p[5] = n[3];
	p[6] = n[4];
	p[7] = n[5];
	p[8] = n[6];
	p[9] = n[7];
	p[10] = n[8];
	p[11] = st->gzip ? "t" : "f";
	snprintf(n[9], sizeof n[9], "%zu", headlen);
	snprintf(n[10], sizeof n[10], "%lu", crc32(0L, head, (uInt)headlen));
	snprintf(n[11], sizeof n[11], "%" PRId64, from.offset);
	/* a load that found no new line ends where it began */
	snprintf(n[12], sizeof n[12], "%" PRId64, st->lines > 0 ||
	    st->text_bytes > from.offset ? st->text_bytes : from.offset);
	snprintf(n[13], sizeof n[13], "%" PRId64, st->first_line);
	snprintf(n[14], sizeof n[14], "%" PRId64, st->lines > 0 ?
	    lines_split_lineno(split) : from.line);
	p[12] = job->source;
	p[13] = follow ? table_inode(job) : NULL;
	p[14] = n[9];
	p[15] = n[10];
	p[16] = n[11];
	p[17] = n[12];
	p[18] = n[13];
	p[19] = n[14];
	if (db_exec_params(conn, "INSERT INTO objwatch.loads (job_id, object_id, "
	    "recipe, table_name, lines, rows, dropped, rejected, rejects_kept, "
	    "bytes, text_bytes, gzip, seconds, source, file_inode, head_len, "
	    "head_crc, start_offset, end_offset, first_line, end_line, "
	    "loaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
	    "$12, extract(epoch FROM clock_timestamp() - now()), $13, $14, "
	    "$15, $16, $17, $18, $19, $20, clock_timestamp())", 20, p,
	    &cause) != 0)
		goto out;
	rc = 0;
	goto done;
out:
	job_error_set(err, ERROR_STORAGE, JOB_RETRY, "recipe '%s': cannot "
	    "load '%s' into table %s: %s", r->name, job->key, r->output_table,
	    cause != NULL ? cause : "unknown error");
done:
	free(cause);
	free(t.fail);
	lines_split_free(split);
	lines_parser_free(t.lp);
	free(raw);
	buf_clear(&t.copy);
	buf_clear(&t.rejects);
	buf_clear(&sql);
	return (rc);
}

/* Print objwatch status's table of lines loads, when there are any. */
int
table_status_print(PGconn *conn, FILE *out, char **cause)
{
	PGresult	*res;
	int		 i;

	res = PQexec(conn, "SELECT recipe, table_name, files, lines, rows, "
	    "dropped, rejected, to_char(last_load AT TIME ZONE 'UTC', "
	    "'YYYY-MM-DD HH24:MI:SS') FROM objwatch.table_status "
	    "ORDER BY recipe, table_name");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	if (PQntuples(res) > 0)
		fprintf(out, "\n%-12s %-20s %6s %10s %10s %8s %8s  %s\n",
		    "LINES", "TABLE", "FILES", "LINES", "ROWS", "DROPPED",
		    "REJECTED", "LAST LOAD (UTC)");
	for (i = 0; i < PQntuples(res); i++)
		fprintf(out, "%-12s %-20s %6s %10s %10s %8s %8s  %s\n",
		    PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		    PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
		    PQgetvalue(res, i, 4), PQgetvalue(res, i, 5),
		    PQgetvalue(res, i, 6), PQgetvalue(res, i, 7));
	PQclear(res);
	return (0);
}
