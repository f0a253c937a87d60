/*
 * mdwe-exec PROGRAM [ARGS...]: run PROGRAM with the kernel's
 * memory-deny-write-execute on (PR_SET_MDWE, Linux 6.3), which its children
 * inherit: no mapping may be writable and executable, or become executable
 * later. The kernel's counterpart of systemd's MemoryDenyWriteExecute=.
 * Exits 77 when the kernel does not have it. mdwe-exec --check tries a
 * writable and executable mapping and says whether it was refused.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/prctl.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef PR_SET_MDWE
#define PR_SET_MDWE			65
#define PR_MDWE_REFUSE_EXEC_GAIN	(1UL << 0)
#endif

int
main(int argc, char **argv)
{
	void	*p;

	if (argc == 2 && strcmp(argv[1], "--check") == 0) {
		p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			printf("refused\n");
			return (0);
		}
		printf("allowed\n");
		return (1);
	}
	if (argc < 2) {
		fprintf(stderr, "usage: mdwe-exec PROGRAM [ARGS...]\n");
		return (2);
	}
	if (prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0L, 0L, 0L) != 0) {
		fprintf(stderr, "mdwe-exec: PR_SET_MDWE: %s\n",
		    strerror(errno));
		return (77);
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "mdwe-exec: %s: %s\n", argv[1], strerror(errno));
	return (127);
}
