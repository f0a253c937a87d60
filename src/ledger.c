/*
 * The ledger as a reconcile sees it: what PostgreSQL knows of a source's
 * objects, one folder at a time.
 *
 * A reconcile lists a folder, asks the ledger once for the versions it
 * holds for that folder (objects.folder, an indexed generated column), and
 * writes only what differs: new or changed files are enqueued, keys the
 * ledger holds but the folder no longer does are marked deleted. Asking per
 * folder keeps the memory of a reconcile bounded by the largest folder and
 * the number of folders, never by the number of files, and costs one round
 * trip per folder rather than one per file.
 *
 * Deletions mark objects.deleted_at and leave every row in place. When the
 * caller asks, the same statement marks the outputs of the deleted objects
 * removed and hands back their locations, for the caller to unlink.
 *
 * Everything here is keys, never paths: a dir source makes its keys and
 * folders from file names with key_from_name before it asks, so a folder
 * listed and the ledger compare as text, whatever bytes the names hold.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "objwatch.h"
#include "banned.h"

/* Order ledger entries by key, then version (for qsort and bsearch). */
int
ledger_entry_cmp(const void *a, const void *b)
{
	const struct ledger_entry	*ea = a, *eb = b;
	int				 c;

	if ((c = strcmp(ea->key, eb->key)) != 0)
		return (c);
	return (strcmp(ea->version, eb->version));
}

static const char folder_sql[] =
	"SELECT o.key, o.version, NOT EXISTS ("
	"  SELECT 1 FROM unnest($3::text[], $4::text[]) AS t(r, h)"
	"  WHERE NOT EXISTS (SELECT 1 FROM objwatch.jobs j"
	"    WHERE j.object_id = o.id AND j.recipe = t.r))"
	"FROM objwatch.objects o "
	"WHERE o.source = $1 AND o.folder = $2 AND o.deleted_at IS NULL";

/*
 * Read what the ledger holds for one folder of src (folder "" is the top):
 * each present object version, sorted by key and version, and whether it
 * has a job for every recipe the source has now (at any hash: a changed
 * recipe reprocesses only when it says reprocess = yes).
 */
int
ledger_folder_read(PGconn *conn, const struct source *src,
    const char *folder, struct ledger_folder *lf, char **cause)
{
	PGresult	*res;
	const char	*params[4];
	const char	**names, **hashes;
	char		*rarr, *harr;
	size_t		 i, n = src->nrecipes;
	int		 rows;

	names = xcalloc(n + 1, sizeof *names);
	hashes = xcalloc(n + 1, sizeof *hashes);
	for (i = 0; i < n; i++) {
		names[i] = src->recipes[i]->name;
		hashes[i] = src->recipes[i]->hash;
	}
	rarr = db_text_array(names, n);
	harr = db_text_array(hashes, n);
	free(names);
	free(hashes);
	params[0] = src->name;
	params[1] = folder;
	params[2] = rarr;
	params[3] = harr;
	res = PQexecParams(conn, folder_sql, 4, NULL, params, NULL, NULL, 0);
	free(rarr);
	free(harr);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	rows = PQntuples(res);
	memset(lf, 0, sizeof *lf);
	if (rows > 0)
		lf->v = xcalloc(rows, sizeof *lf->v);
	for (i = 0; i < (size_t)rows; i++) {
		lf->v[i].key = xstrdup(PQgetvalue(res, i, 0));
		lf->v[i].version = xstrdup(PQgetvalue(res, i, 1));
		lf->v[i].complete = (*PQgetvalue(res, i, 2) == 't');
	}
	lf->n = rows;
	PQclear(res);
	if (lf->n > 1)
		qsort(lf->v, lf->n, sizeof *lf->v, ledger_entry_cmp);
	return (0);
}

/* Free what ledger_folder_read gave. */
void
ledger_folder_clear(struct ledger_folder *lf)
{
	size_t	 i;

	for (i = 0; i < lf->n; i++) {
		free(lf->v[i].key);
		free(lf->v[i].version);
	}
	free(lf->v);
	memset(lf, 0, sizeof *lf);
}

/*
 * Read the live version of every key of a source (a bucket has no
 * folders to ask by), in the order of the database's collation: callers
 * that compare with strcmp sort again. complete is not filled in.
 */
int
ledger_live(PGconn *conn, const char *source, struct ledger_folder *lf,
    char **cause)
{
	PGresult	*res;
	const char	*params[1] = { source };
	int		 i, rows;

	res = PQexecParams(conn, "SELECT DISTINCT ON (key) key, version "
	    "FROM objwatch.objects WHERE source = $1 AND deleted_at IS NULL "
	    "ORDER BY key, id DESC", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	rows = PQntuples(res);
	memset(lf, 0, sizeof *lf);
	lf->v = xcalloc(rows + 1, sizeof *lf->v);
	for (i = 0; i < rows; i++) {
		lf->v[i].key = xstrdup(PQgetvalue(res, i, 0));
		lf->v[i].version = xstrdup(PQgetvalue(res, i, 1));
	}
	lf->n = rows;
	PQclear(res);
	return (0);
}

/* The folders of source that hold objects still present, per the ledger. */
int
ledger_folders(PGconn *conn, const char *source, struct strv *folders,
    char **cause)
{
	PGresult	*res;
	const char	*params[1] = { source };
	int		 i;

	res = PQexecParams(conn, "SELECT DISTINCT folder FROM "
	    "objwatch.objects WHERE source = $1 AND deleted_at IS NULL",
	    1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	for (i = 0; i < PQntuples(res); i++)
		strv_push(folders, PQgetvalue(res, i, 0));
	PQclear(res);
	return (0);
}

/* A LIKE pattern matching every key strictly under folder. */
static char *
ledger_like_under(const char *folder)
{
	char		*out, *o;
	const char	*p;

	o = out = xmalloc(strlen(folder) * 2 + 3);
	for (p = folder; *p != '\0'; p++) {
		if (*p == '%' || *p == '_' || *p == '\\')
			*o++ = '\\';
		*o++ = *p;
	}
	*o++ = '/';
	*o++ = '%';
	*o = '\0';
	return (out);
}

/*
 * Mark objects of src deleted: the keys in what (LEDGER_KEYS), or every
 * key in the folder what->v[0] and below it (LEDGER_TREE). With outputs
 * set, their outputs are marked removed too and their locations appended
 * to outputs. *n is how many objects were marked.
 */
int
ledger_delete(PGconn *conn, const struct source *src, enum ledger_scope scope,
    const struct strv *what, struct strv *outputs, int *n, char **cause)
{
	PGresult	*res;
	const char	*params[3], *where;
	char		*sql, *arg1, *arg2 = NULL;
	int		 i, nparams;

	if (what->n == 0) {
		*n = 0;
		return (0);
	}
	if (scope == LEDGER_KEYS) {
		where = "key = ANY($2::text[])";
		arg1 = db_text_array((const char *const *)what->v, what->n);
		nparams = 2;
	} else {
		where = "(folder = $2 OR folder LIKE $3)";
		arg1 = xstrdup(what->v[0]);
		arg2 = ledger_like_under(what->v[0]);
		nparams = 3;
	}
	if (outputs == NULL)
		xasprintf(&sql, "WITH d AS ("
		    "  UPDATE objwatch.objects SET deleted_at = now()"
		    "  WHERE source = $1 AND deleted_at IS NULL AND %s"
		    "  RETURNING id"
		    ") SELECT count(*), NULL FROM d", where);
	else
		xasprintf(&sql, "WITH d AS ("
		    "  UPDATE objwatch.objects SET deleted_at = now()"
		    "  WHERE source = $1 AND deleted_at IS NULL AND %s"
		    "  RETURNING id"
		    "), r AS ("
		    "  UPDATE objwatch.outputs o SET removed_at = now()"
		    "  FROM objwatch.jobs j, d"
		    "  WHERE j.object_id = d.id AND o.job_id = j.id"
		    "    AND o.removed_at IS NULL"
		    "  RETURNING o.location"
		    ") SELECT (SELECT count(*) FROM d), r.location"
		    "  FROM (SELECT 1) AS one LEFT JOIN r ON true", where);
	params[0] = src->name;
	params[1] = arg1;
	params[2] = arg2;
	res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	free(sql);
	free(arg1);
	free(arg2);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	*n = PQntuples(res) > 0 ? atoi(PQgetvalue(res, 0, 0)) : 0;
	for (i = 0; outputs != NULL && i < PQntuples(res); i++) {
		if (!PQgetisnull(res, i, 1))
			strv_push(outputs, PQgetvalue(res, i, 1));
	}
	PQclear(res);
	return (0);
}

