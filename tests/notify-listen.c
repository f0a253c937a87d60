/*
 * notify-listen SOCKET: stand in for systemd's notification socket. Binds
 * an AF_UNIX datagram socket at SOCKET and prints each message it gets as
 * one line on standard output, "PID: KEY=value KEY=value", the PID being
 * the sender's as the kernel tells it, until it is killed.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct sockaddr_un	 sun;
	struct msghdr		 mh;
	struct iovec		 iov;
	struct ucred		*cred;
	struct cmsghdr		*cm;
	char			 buf[4096], control[CMSG_SPACE(sizeof *cred)];
	ssize_t			 n, i;
	long			 pid;
	int			 fd, one = 1;

	if (argc != 2 || strlen(argv[1]) >= sizeof sun.sun_path) {
		fprintf(stderr, "usage: notify-listen SOCKET\n");
		return (2);
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, argv[1], strlen(argv[1]));
	unlink(argv[1]);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
		fprintf(stderr, "notify-listen: %s: %s\n", argv[1],
		    strerror(errno));
		return (1);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		iov.iov_base = buf;
		iov.iov_len = sizeof buf - 1;
		memset(&mh, 0, sizeof mh);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = control;
		mh.msg_controllen = sizeof control;
		n = recvmsg(fd, &mh, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "notify-listen: %s\n", strerror(errno));
			return (1);
		}
		pid = -1;
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL;
		    cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level == SOL_SOCKET &&
			    cm->cmsg_type == SCM_CREDENTIALS) {
				cred = (struct ucred *)CMSG_DATA(cm);
				pid = cred->pid;
			}
		}
		for (i = 0; i < n; i++) {
			if (buf[i] == '\n')
				buf[i] = ' ';
		}
		buf[n] = '\0';
		printf("%ld: %s\n", pid, buf);
	}
}
