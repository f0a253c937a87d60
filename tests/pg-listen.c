/*
 * pg-listen CONNINFO CHANNEL: LISTEN on CHANNEL and print "listening"
 * once the LISTEN is in force, then each notification's payload as one
 * line on standard output, until it is killed or the connection ends.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

int
main(int argc, char **argv)
{
	struct pollfd	 pfd;
	PGconn		*conn;
	PGresult	*res;
	PGnotify	*n;
	char		*sql, *id;
	size_t		 len;

	if (argc != 3) {
		fprintf(stderr, "usage: pg-listen CONNINFO CHANNEL\n");
		return (2);
	}
	conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "pg-listen: %s", PQerrorMessage(conn));
		return (1);
	}
	id = PQescapeIdentifier(conn, argv[2], strlen(argv[2]));
	len = strlen(id) + sizeof "LISTEN ";
	if ((sql = malloc(len)) == NULL)
		return (1);
	snprintf(sql, len, "LISTEN %s", id);
	PQfreemem(id);
	res = PQexec(conn, sql);
	free(sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "pg-listen: %s", PQresultErrorMessage(res));
		return (1);
	}
	PQclear(res);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("listening\n");
	for (;;) {
		while ((n = PQnotifies(conn)) != NULL) {
			printf("%s\n", n->extra);
			PQfreemem(n);
		}
		pfd.fd = PQsocket(conn);
		pfd.events = POLLIN;
		if (poll(&pfd, 1, -1) == -1 && errno != EINTR) {
			fprintf(stderr, "pg-listen: poll: %s\n",
			    strerror(errno));
			return (1);
		}
		if (PQconsumeInput(conn) == 0) {
			fprintf(stderr, "pg-listen: %s", PQerrorMessage(conn));
			return (1);
		}
	}
}
