// SPDX-License-Identifier: MIT
/*
 * The system-call allow-lists: what each kind of thread may still do once its filter is loaded, and that a call
 * outside the list ends the process with status 128 + SIGSYS and one line naming the thread.  Each case runs in
 * a child process, since a filter cannot be taken off again.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>

#include "enclave/sandbox.h"
#include "hypervisor/kvm/kvm.h"

struct outcome {
	int status;	/* waitpid's */
	char err[512];	/* the child's stderr */
};

/* Run fn in a child with its stderr captured; fn's return value is the child's exit status. */
static void run_child(int (*fn)(void), struct outcome *out)
{
	int fds[2];
	pid_t pid;
	ssize_t n;
	size_t len = 0;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		_exit(fn());
	}
	close(fds[1]);
	while ((n = read(fds[0], out->err + len, sizeof(out->err) - 1 - len)) > 0)
		len += (size_t)n;
	out->err[len] = 0;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &out->status, 0), pid);
}

#define ANY_ARG UINT64_MAX

/* thread: the thread's name; nr: the call's number; arg: its first argument (ANY_ARG: not known); list: the list's. */
static void assert_trapped(const struct outcome *out, const char *thread, long nr, uint64_t arg, const char *list)
{
	char head[96], tail[96];

	assert_true(WIFEXITED(out->status));
	assert_int_equal(WEXITSTATUS(out->status), 128 + SIGSYS);
	if (arg == ANY_ARG)
		snprintf(head, sizeof(head), "nitrovm: thread %s made system call %ld (first argument 0x", thread, nr);
	else
		snprintf(head, sizeof(head), "nitrovm: thread %s made system call %ld (first argument 0x%" PRIx64,
			 thread, nr, arg);
	snprintf(tail, sizeof(tail), "), outside the %s allow-list (seccomp); ending the enclave\n", list);
	if (strlen(out->err) < strlen(head) + strlen(tail))
		fail_msg("%s", out->err);
	if (arg != ANY_ARG)
		assert_int_equal(strlen(out->err), strlen(head) + strlen(tail));
	assert_memory_equal(out->err, head, strlen(head));
	assert_string_equal(out->err + strlen(out->err) - strlen(tail), tail);
	assert_null(strchr(out->err, '\n') + 1 == out->err + strlen(out->err) ? NULL : "more than one line");
}

static int vcpu_opens_a_file(void)
{
	prctl(PR_SET_NAME, "vcpu0");
	if (kvm_vcpu_seccomp() < 0)
		return 2;
	close(open("/", O_RDONLY));
	return 0;
}

static void vcpu_open_traps(void **state)
{
	struct outcome out;

	(void)state;
	run_child(vcpu_opens_a_file, &out);
	assert_trapped(&out, "vcpu0", SYS_openat, (uint32_t)AT_FDCWD, "vCPU");
}

/* A KVM ioctl on a descriptor that is not KVM's is allowed (and fails with ENOTTY); a terminal ioctl traps. */
static int vcpu_ioctls(void)
{
	int fds[2];
	struct termios t;

	prctl(PR_SET_NAME, "vcpu3");
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0 || dup2(fds[0], 40) != 40 || kvm_vcpu_seccomp() < 0)
		return 2;
	if (ioctl(fds[0], KVM_RUN, 0) != -1 || (errno != ENOTTY && errno != EINVAL))
		return 3;
	if (write(fds[0], "x", 1) != 1) /* device handlers write to sockets */
		return 4;
	ioctl(40, TCGETS, &t);
	return 0;
}

static void vcpu_ioctl_kinds(void **state)
{
	struct outcome out;

	(void)state;
	run_child(vcpu_ioctls, &out);
	assert_trapped(&out, "vcpu3", SYS_ioctl, 40, "vCPU");
}

static void *thread_body(void *arg)
{
	int *fd = arg;

	return write(*fd, "t", 1) == 1 ? arg : NULL;
}

/* The event loop's list: threads, sockets of the four families and files stay; a fork does not. */
static int loop_threads_then_fork(void)
{
	int fds[2], s;
	pthread_t th;
	void *ret;
	char c;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0 || enclave_sandbox_loop() < 0)
		return 2;
	if (pthread_create(&th, NULL, thread_body, &fds[1]) || pthread_join(th, &ret) || !ret)
		return 3;
	if (read(fds[0], &c, 1) != 1 || c != 't')
		return 4;
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		return 5;
	close(s);
	s = open("/proc/self/status", O_RDONLY);
	if (s < 0)
		return 6;
	close(s);
	if (fork() == 0)
		_exit(0); /* never reached: the fork traps */
	return 7;
}

static void loop_allows_threads_denies_fork(void **state)
{
	struct outcome out;

	(void)state;
	run_child(loop_threads_then_fork, &out);
	assert_trapped(&out, "test_seccomp", SYS_clone, ANY_ARG, "enclave process");
}

static int loop_opens_netlink(void)
{
	if (enclave_sandbox_loop() < 0)
		return 2;
	socket(AF_NETLINK, SOCK_RAW, 0);
	return 0;
}

static void loop_netlink_traps(void **state)
{
	struct outcome out;

	(void)state;
	run_child(loop_opens_netlink, &out);
	assert_trapped(&out, "test_seccomp", SYS_socket, AF_NETLINK, "enclave process");
}

static int loop_execs(void)
{
	char *argv[] = { "/bin/true", NULL };

	if (enclave_sandbox_loop() < 0)
		return 2;
	execv(argv[0], argv);
	return 0;
}

static void loop_exec_traps(void **state)
{
	struct outcome out;

	(void)state;
	run_child(loop_execs, &out);
	assert_trapped(&out, "test_seccomp", SYS_execve, ANY_ARG, "enclave process");
}

/* A thread that exists before the filter is loaded gets it too (TSYNC): told to fork afterwards, it traps. */
static void *waiting_thread(void *arg)
{
	int *go = arg;
	char c;

	prctl(PR_SET_NAME, "waiter");
	if (read(go[0], &c, 1) == 1 && fork() == 0)
		_exit(0);
	return NULL;
}

static int loop_covers_earlier_threads(void)
{
	pthread_t th;
	int go[2];

	if (pipe(go) < 0 || pthread_create(&th, NULL, waiting_thread, go))
		return 2;
	if (enclave_sandbox_loop() < 0)
		return 3;
	if (write(go[1], "g", 1) != 1)
		return 4;
	pthread_join(th, NULL);
	return 5;
}

static void loop_thread_fork_traps(void **state)
{
	struct outcome out;

	(void)state;
	run_child(loop_covers_earlier_threads, &out);
	assert_trapped(&out, "waiter", SYS_clone, ANY_ARG, "enclave process");
}

/* As in an enclave: the process's list first, then a vCPU thread loads its own on top, and is held to both. */
static void *stacked_vcpu(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "vcpu1");
	if (kvm_vcpu_seccomp() < 0) {
		fprintf(stderr, "cannot load: %s\n", strerror(errno));
		return NULL;
	}
	socket(AF_INET, SOCK_STREAM, 0); /* the process's list allows it, the vCPU's does not */
	return NULL;
}

static int vcpu_list_on_the_process_list(void)
{
	pthread_t th;

	if (enclave_sandbox_loop() < 0 || pthread_create(&th, NULL, stacked_vcpu, NULL))
		return 2;
	pthread_join(th, NULL);
	return 3;
}

static void vcpu_list_stacks(void **state)
{
	struct outcome out;

	(void)state;
	run_child(vcpu_list_on_the_process_list, &out);
	assert_trapped(&out, "vcpu1", SYS_socket, AF_INET, "vCPU");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vcpu_open_traps),
		cmocka_unit_test(vcpu_ioctl_kinds),
		cmocka_unit_test(loop_allows_threads_denies_fork),
		cmocka_unit_test(loop_netlink_traps),
		cmocka_unit_test(loop_exec_traps),
		cmocka_unit_test(loop_thread_fork_traps),
		cmocka_unit_test(vcpu_list_stacks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
