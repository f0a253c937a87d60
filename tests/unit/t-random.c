/*
 * Retry jitter differs between processes: each seeds random() from the
 * kernel (random_seed), so two processes' first backoff delays are not
 * the same, as they were while nothing seeded it.
 */
#include "config.h"

#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "objwatch.h"
#include "tap.h"

/* The first backoff delay a new process draws, seeded or not. */
static double
first_backoff(int seed)
{
	double	 d = -1;
	int	 fd[2], status;
	pid_t	 pid;

	if (pipe(fd) == -1)
		return (-1);
	if ((pid = fork()) == -1)
		return (-1);
	if (pid == 0) {
		close(fd[0]);
		if (seed)
			random_seed();
		d = queue_backoff(1);
		_exit(write(fd[1], &d, sizeof d) == sizeof d ? 0 : 1);
	}
	close(fd[1]);
	if (read(fd[0], &d, sizeof d) != sizeof d)
		d = -1;
	close(fd[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return (-1);
	return (d);
}

int
main(void)
{
	double	 a, b, c, d;
	int	 differ = 0, i;

	plan(4);

	a = first_backoff(0);
	b = first_backoff(0);
	ok(a > 0 && a == b, "unseeded, two processes draw the same first "
	    "delay (%.6f, %.6f): what the seeding is for", a, b);

	c = first_backoff(1);
	d = first_backoff(1);
	ok(c >= 1.5 && c <= 2.5 && d >= 1.5 && d <= 2.5, "a first retry "
	    "waits 2 s with 25%% jitter either way (%.6f, %.6f)", c, d);
	ok(c != d, "seeded, two processes draw different first delays "
	    "(%.6f, %.6f)", c, d);

	/* Equal by chance: about one pair in 2^31 (random() has 31 bits). */
	for (i = 0; i < 20; i++) {
		c = first_backoff(1);
		d = first_backoff(1);
		differ += (c > 0 && d > 0 && c != d);
	}
	is_int(differ, 20, "twenty more pairs of processes all differ");
	return (0);
}
