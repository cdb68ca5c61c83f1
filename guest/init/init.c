// SPDX-License-Identifier: MIT
/*
 * nitrovm-init: PID 1 of an enclave image built with `nitrovm build-enclave --rootfs`.  It does what the AWS
 * init does (reference D.2), in the same order, so images mean the same thing on Nitro and under nitrovm:
 *
 *   1. block all signals, mount devtmpfs on /dev, put stdio on /dev/console;
 *   2. load kernel modules: /nsm.ko if present (the AWS bootstrap layout), then /modules/order in order
 *      (compressed ones through the kernel's own decompressor);
 *   3. send the heartbeat: connect to the parent (CID 3) port 9000, write 0xB7, read it back;
 *   4. read /cmd and /env (one entry per line), and /cwd and /user when there, and remove them;
 *   5. switch root to /rootfs and mount /dev, /proc, /run, /tmp, /dev/shm, /dev/pts, /sys;
 *   6. open the app channel to the parent (app_link.h) if the parent serves one, run the app in its own session
 *      with signals unblocked, in /cwd as /user (else / as root), its stdio on the channel (else on the
 *      console), and reap every child until it exits;
 *   7. report how it ended (to the parent over the channel, and on the console), sync and reboot, which ends
 *      the enclave (the EIF cmdline has reboot=k).
 *
 * Where AWS's init crashes or hangs it says what is wrong and ends the enclave instead: a missing /cmd or
 * /env, a module the kernel refuses, a heartbeat nobody answers.  `nitrovm.heartbeat=0` on the kernel command
 * line skips step 3 (for parents that run no heartbeat listener, e.g. nitrovm --no-heartbeat).
 *
 * Linked statically: the bootstrap ramdisk has no C library.  Messages go to the console, prefixed
 * "nitrovm-init: ".
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/module.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <grp.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
/* After sys/socket.h: older kernel headers use struct sockaddr without including it. */
#include <linux/vm_sockets.h>

#include "app_link.h"
#include "app_wire.h"
#include "init_lib.h"

#define PREFIX "nitrovm-init: "

#define CONSOLE		   "/dev/console"
#define NEW_ROOT	   "/rootfs"
#define CMD_FILE	   "/cmd"
#define ENV_FILE	   "/env"
#define CWD_FILE	   "/cwd"  /* images from containers: the working directory */
#define USER_FILE	   "/user" /* and the user: "UID GID [GID...]" */
#define MAX_CWD_FILE	   4096
/* UID GID and 65536 groups of 10 digits each, blanks between. */
#define MAX_USER_FILE	   (12 * (INIT_MAX_GROUPS + 2))
#define AWS_NSM_MODULE	   "/nsm.ko" /* where nitro-cli's bootstrap ramdisk puts the NSM driver */
#define MODULES_DIR	   "/modules"
#define MODULES_ORDER	   MODULES_DIR "/order"
#define KERNEL_CMDLINE	   "/proc/cmdline"
#define MAX_KERNEL_CMDLINE 4096 /* COMMAND_LINE_SIZE has been 2048 on x86 for years; leave room */
/* /cmd and /env become execve()'s argv and envp, which the kernel caps well below this anyway. */
#define MAX_LIST_FILE  (4u << 20)
#define MAX_ORDER_FILE (64u << 10)

/* The heartbeat (reference D.2): the parent's vsock CID, its port and the byte it must echo. */
#define PARENT_CID     3
#define HEARTBEAT_PORT 9000
#define HEARTBEAT_BYTE 0xB7
/*
 * The vsock transport is a module loaded a moment ago; its device may still be probing when we first connect.
 * Retry for a bounded time rather than once (AWS's kernel has it built in and never needs to).
 */
#define HEARTBEAT_RETRY_TOTAL_MS 10000
#define HEARTBEAT_RETRY_DELAY_MS 100
/* The parent echoes at once; a minute of silence means nobody will (the parent gives up long before). */
#define HEARTBEAT_REPLY_TIMEOUT_S 60

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	/* One write per message, so the app's output cannot land in the middle of it. */
	dprintf(STDERR_FILENO, PREFIX "%.*s\n", n, buf);
}

/*
 * End the enclave.  PID 1 must not exit (the kernel would panic and only reboot after panic=30 s), so sync
 * what the app wrote and reboot: with reboot=k that is the keyboard-controller reset, which ends an enclave.
 */
static __attribute__((noreturn)) void end_enclave(void)
{
	sync();
	reboot(RB_AUTOBOOT);
	/* Only reached when reboot is not allowed, i.e. not in an enclave. */
	say("reboot failed: %s", strerror(errno));
	_exit(1);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	say("%s; ending the enclave", buf);
	end_enclave();
}

static void mkdir_if_missing(const char *path, mode_t mode)
{
	if (mkdir(path, mode) && errno != EEXIST)
		say("warning: cannot create %s: %s", path, strerror(errno));
}

static void mount_devtmpfs(void)
{
	mkdir_if_missing("/dev", 0755);
	/* EBUSY: the kernel mounted it already (CONFIG_DEVTMPFS_MOUNT on a disk root). */
	if (mount("dev", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755") && errno != EBUSY)
		die("cannot mount devtmpfs on /dev: %s", strerror(errno));
}

/* The kernel opens /dev/console for init only if the ramdisk has one; make sure stdio is there either way. */
static void open_console(void)
{
	int fd = open(CONSOLE, O_RDWR | O_NOCTTY);

	if (fd < 0)
		return; /* nowhere to say so; carry on with whatever stdio we have */
	for (int i = STDIN_FILENO; i <= STDERR_FILENO; i++)
		if (fd != i)
			dup2(fd, i);
	if (fd > STDERR_FILENO)
		close(fd);
}

/* Read a whole small file into a NUL-terminated heap buffer (with room for init_split_lines). */
static int read_file(const char *path, size_t max, char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 4096, n = 0;
	char *b;

	if (fd < 0)
		return -errno;
	b = malloc(cap + 1);
	if (!b)
		goto nomem;
	for (;;) {
		ssize_t r;

		if (n == cap) {
			char *nb;

			if (cap >= max) {
				free(b);
				close(fd);
				return -EFBIG;
			}
			cap = cap * 2 > max ? max : cap * 2;
			nb = realloc(b, cap + 1);
			if (!nb) {
				free(b);
				goto nomem;
			}
			b = nb;
		}
		r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = -errno;

			free(b);
			close(fd);
			return err;
		}
		if (!r)
			break;
		n += (size_t)r;
	}
	close(fd);
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
nomem:
	close(fd);
	return -ENOMEM;
}

/*
 * The kernel hands parameters with a dot (nitrovm.heartbeat=0) to no one but modules, so read the command
 * line from /proc.  /proc is mounted only for this: the new root gets its own later.
 */
static void read_kernel_cmdline(char *cmdline, size_t len)
{
	bool created = mkdir("/proc", 0555) == 0;
	size_t n = 0;
	char *buf;

	cmdline[0] = '\0';
	if (mount("proc", "/proc", "proc", MS_NODEV | MS_NOSUID | MS_NOEXEC, NULL)) {
		say("warning: cannot mount /proc to read the kernel command line: %s", strerror(errno));
		goto out;
	}
	if (!read_file(KERNEL_CMDLINE, MAX_KERNEL_CMDLINE, &buf, &n)) {
		snprintf(cmdline, len, "%s", buf);
		free(buf);
	}
	umount2("/proc", MNT_DETACH);
out:
	if (created)
		rmdir("/proc");
}

#define HINT_UNCOMPRESSED "pack the modules uncompressed (scripts/kernel-modules --decompress)"

static const char *module_error_hint(int err, enum init_module_format fmt)
{
	if (err == EINVAL && fmt == INIT_MODULE_ELF)
		return "the kernel rejects it as a module";
	switch (err) {
	case EOPNOTSUPP:
		return "no CONFIG_MODULE_DECOMPRESS in this kernel: " HINT_UNCOMPRESSED;
	case EINVAL:
		return "the kernel's decompressor takes only the format it was built for: " HINT_UNCOMPRESSED;
	case ENOEXEC:
		return "it was built for another kernel (version magic or format mismatch)";
	case ENOENT:
		return "it needs symbols of a module not loaded yet: list its dependencies first";
	case EKEYREJECTED:
	case EPERM:
		return "the kernel refuses it (module signature enforcement or lockdown)";
	default:
		return NULL;
	}
}

/*
 * Load one module file, or end the enclave.  The format comes from the file's first bytes, not its name:
 * compressed files go through the kernel's decompressor (MODULE_INIT_COMPRESSED_FILE), as the Debian kernels
 * here build CONFIG_MODULE_DECOMPRESS with xz.
 */
static void load_module(const char *path)
{
	uint8_t head[INIT_MODULE_MAGIC_MAX];
	enum init_module_format fmt;
	const char *hint;
	ssize_t n;
	int fd, flags, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("cannot open module %s: %s", path, strerror(errno));
	n = pread(fd, head, sizeof(head), 0);
	fmt = init_module_format(head, n > 0 ? (size_t)n : 0);
	if (fmt == INIT_MODULE_UNKNOWN)
		die("%s is neither an ELF module nor xz, zstd or gzip compressed", path);
	flags = fmt == INIT_MODULE_ELF ? 0 : MODULE_INIT_COMPRESSED_FILE;
	err = syscall(SYS_finit_module, fd, "", flags) ? errno : 0;
	close(fd);
	if (!err || err == EEXIST)
		return; /* EEXIST: loaded already, or built in */
	hint = module_error_hint(err, fmt);
	die("cannot load module %s (%s): %s%s%s", path, init_module_format_name(fmt), strerror(err),
	    hint ? ": " : "", hint ? hint : "");
}

static void load_modules(void)
{
	char **list, *buf, path[PATH_MAX];
	size_t len, count, bad;
	int ret;

	if (!access(AWS_NSM_MODULE, F_OK)) {
		load_module(AWS_NSM_MODULE);
		unlink(AWS_NSM_MODULE);
	}
	ret = read_file(MODULES_ORDER, MAX_ORDER_FILE, &buf, &len);
	if (ret == -ENOENT)
		return;
	if (ret)
		die("cannot read %s: %s", MODULES_ORDER, strerror(-ret));
	ret = init_parse_module_order(buf, len, &list, &count, &bad);
	if (ret)
		die("%s line %zu: %s", MODULES_ORDER, bad,
		    ret == -EINVAL   ? "not a path inside " MODULES_DIR
		    : ret == -EILSEQ ? "a NUL byte"
				     : strerror(-ret));
	for (size_t i = 0; i < count; i++) {
		if (snprintf(path, sizeof(path), MODULES_DIR "/%s", list[i]) >= (int)sizeof(path))
			die("%s: the path of %s is too long", MODULES_ORDER, list[i]);
		load_module(path);
		/* The bootstrap ramdisk stays in memory for the enclave's life: give the module's pages back.
		 */
		unlink(path);
	}
	unlink(MODULES_ORDER);
	say("loaded %zu kernel module%s", count, count == 1 ? "" : "s");
	free(list);
	free(buf);
}

static long ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Connect to the parent's heartbeat port, retrying while the vsock transport may still be coming up. */
static int heartbeat_connect(void)
{
	struct sockaddr_vm addr = {
		.svm_family = AF_VSOCK,
		.svm_cid = PARENT_CID,
		.svm_port = HEARTBEAT_PORT,
	};
	const struct timespec delay = {0, HEARTBEAT_RETRY_DELAY_MS * 1000000L};
	struct timespec t0;
	int fd, err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && !connect(fd, (struct sockaddr *)&addr, sizeof(addr)))
			return fd;
		err = errno;
		if (fd >= 0)
			close(fd);
		if (ms_since(&t0) >= HEARTBEAT_RETRY_TOTAL_MS)
			break;
		nanosleep(&delay, NULL);
	}
	if (err == EAFNOSUPPORT)
		die("heartbeat: this kernel has no vsock (load vsock and vmw_vsock_virtio_transport with "
		    "--kernel-modules, or boot with nitrovm.heartbeat=0)");
	die("heartbeat: cannot connect to the parent (CID %d port %d) within %d s: %s", PARENT_CID,
	    HEARTBEAT_PORT, HEARTBEAT_RETRY_TOTAL_MS / 1000, strerror(err));
}

static void heartbeat(void)
{
	const struct timeval timeout = {HEARTBEAT_REPLY_TIMEOUT_S, 0};
	uint8_t b = HEARTBEAT_BYTE;
	ssize_t n;
	int fd = heartbeat_connect();

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	do
		n = write(fd, &b, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		die("heartbeat: cannot write to the parent: %s", n < 0 ? strerror(errno) : "short write");
	b = 0;
	do
		n = read(fd, &b, 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		die("heartbeat: no reply from the parent: %s",
		    errno == EAGAIN ? "timed out" : strerror(errno));
	if (n == 0)
		die("heartbeat: the parent closed the connection without replying");
	if (b != HEARTBEAT_BYTE)
		die("heartbeat: the parent replied 0x%02X, expected 0x%02X", b, HEARTBEAT_BYTE);
	close(fd);
	say("heartbeat acknowledged by the parent");
}

/* Read /cmd or /env into a NULL-terminated array; the file is removed once read, as AWS's init does. */
static char **read_list(const char *path, enum init_lines_kind kind, size_t *count)
{
	size_t len, bad;
	char **list, *buf;
	int ret = read_file(path, MAX_LIST_FILE, &buf, &len);

	if (ret == -ENOENT)
		die("%s is missing from the image (was it built with nitrovm build-enclave --rootfs, or did "
		    "the "
		    "enclave get too little memory to unpack its ramdisks?)",
		    path);
	if (ret)
		die("cannot read %s: %s", path, strerror(-ret));
	ret = init_split_lines(buf, len, kind, &list, count, &bad);
	if (ret == -EINVAL)
		die("%s line %zu is not NAME=VALUE", path, bad);
	if (ret == -EILSEQ)
		die("%s line %zu contains a NUL byte", path, bad);
	if (ret)
		die("cannot parse %s: %s", path, strerror(-ret));
	unlink(path);
	return list; /* its strings live in buf, which lives as long as init */
}

/* Where and as whom the app runs: /cwd and /user when the image has them, else / and root (AWS's init). */
struct app_identity {
	const char *cwd;
	bool has_user;
	struct init_user user;
};

static void read_identity(struct app_identity *id)
{
	char *buf;
	size_t len;
	int ret;

	id->cwd = "/";
	ret = read_file(CWD_FILE, MAX_CWD_FILE, &buf, &len);
	if (ret && ret != -ENOENT)
		die("cannot read %s: %s", CWD_FILE, strerror(-ret));
	if (!ret) {
		if (init_parse_cwd(buf, len, &id->cwd))
			die("%s is not one absolute path", CWD_FILE);
		unlink(CWD_FILE);
	}
	ret = read_file(USER_FILE, MAX_USER_FILE, &buf, &len);
	if (ret == -ENOENT)
		return;
	if (ret)
		die("cannot read %s: %s", USER_FILE, strerror(-ret));
	ret = init_parse_user(buf, len, &id->user);
	if (ret)
		die("%s is not \"UID GID [GID...]\": %s", USER_FILE, strerror(-ret));
	free(buf);
	unlink(USER_FILE);
	id->has_user = true;
}

static void switch_root(void)
{
	struct stat st;

	if (stat(NEW_ROOT, &st) || !S_ISDIR(st.st_mode))
		die("the image has no %s directory to run the app in", NEW_ROOT);
	/*
	 * /rootfs is a directory of the initramfs, not a mount: bind it onto itself to make it one that can
	 * move (AWS's "fix switch root", which also lets the app use user namespaces).
	 */
	if (mount(NEW_ROOT, NEW_ROOT, NULL, MS_BIND | MS_REC, NULL))
		die("cannot bind-mount %s: %s", NEW_ROOT, strerror(errno));
	if (chdir(NEW_ROOT))
		die("cannot enter %s: %s", NEW_ROOT, strerror(errno));
	if (mount(".", "/", NULL, MS_MOVE, NULL))
		die("cannot move %s to /: %s", NEW_ROOT, strerror(errno));
	if (chroot("."))
		die("cannot chroot into %s: %s", NEW_ROOT, strerror(errno));
	if (chdir("/"))
		die("cannot enter the new root: %s", strerror(errno));
}

struct app_mount {
	const char *source, *target, *type;
	unsigned long flags;
	const char *data;
	bool required;
};

/* The app's view, in mount order (parents first); AWS's init mounts the same set. */
static const struct app_mount app_mounts[] = {
	{"dev", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755", true},
	{"proc", "/proc", "proc", MS_NODEV | MS_NOSUID | MS_NOEXEC, NULL, true},
	{"run", "/run", "tmpfs", MS_NODEV | MS_NOSUID, "mode=0755", false},
	{"tmp", "/tmp", "tmpfs", MS_NODEV | MS_NOSUID, "mode=1777", false},
	{"shm", "/dev/shm", "tmpfs", MS_NODEV | MS_NOSUID, "mode=1777", false},
	{"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666", false},
	{"sysfs", "/sys", "sysfs", MS_NODEV | MS_NOSUID | MS_NOEXEC, NULL, false},
	/* cgroup v2 where AWS mounts one v1 hierarchy per controller: what today's runtimes expect. */
	{"cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NODEV | MS_NOSUID | MS_NOEXEC, NULL, false},
};

static const char *const dev_links[][2] = {
	{"/dev/fd", "/proc/self/fd"},
	{"/dev/stdin", "/proc/self/fd/0"},
	{"/dev/stdout", "/proc/self/fd/1"},
	{"/dev/stderr", "/proc/self/fd/2"},
};

static void mount_app_filesystems(void)
{
	for (size_t i = 0; i < sizeof(app_mounts) / sizeof(app_mounts[0]); i++) {
		const struct app_mount *m = &app_mounts[i];

		mkdir_if_missing(m->target, 0755);
		if (!mount(m->source, m->target, m->type, m->flags, m->data) || errno == EBUSY)
			continue;
		if (m->required)
			die("cannot mount %s on %s: %s", m->type, m->target, strerror(errno));
		say("warning: cannot mount %s on %s: %s", m->type, m->target, strerror(errno));
	}
	for (size_t i = 0; i < sizeof(dev_links) / sizeof(dev_links[0]); i++)
		if (symlink(dev_links[i][1], dev_links[i][0]) && errno != EEXIST)
			say("warning: cannot create %s: %s", dev_links[i][0], strerror(errno));
}

/*
 * The app's environment is /env; when /env sets no PATH, the default one is added, as Docker adds it to an
 * image's config.  execvpe() looks the program up in our own PATH, so set that to the app's.
 */
static char **app_environment(char **env, size_t count)
{
	char **full;

	if (init_env_has_path(env)) {
		for (size_t i = 0; i < count; i++)
			if (!strncmp(env[i], "PATH=", 5))
				setenv("PATH", env[i] + 5, 1);
		return env;
	}
	full = calloc(count + 2, sizeof(*full));
	if (!full)
		die("out of memory");
	memcpy(full, env, count * sizeof(*env));
	full[count] = (char *)INIT_DEFAULT_PATH;
	setenv("PATH", INIT_DEFAULT_PATH_VALUE, 1);
	return full;
}

/*
 * In the child: the directory first, while still root (as runc does, so a directory only root may enter
 * works), then the groups and ids.  A failure ends the app, not the init: the exit status tells.
 */
static void become_app(const struct app_identity *id)
{
	const struct init_user *u = &id->user;

	if (chdir(id->cwd)) {
		say("cannot enter the working directory %s: %s", id->cwd, strerror(errno));
		_exit(127);
	}
	if (!id->has_user)
		return;
	if (setgroups(u->ngroups, (const gid_t *)u->groups) || setgid(u->gid) || setuid(u->uid)) {
		say("cannot become uid %u gid %u: %s", u->uid, u->gid, strerror(errno));
		_exit(127);
	}
}

/* stdio: the app's stdin, stdout and stderr (the app channel's pipes), or NULL for the console. */
static pid_t start_app(char **argv, char **envp, const struct app_identity *id, const int *stdio)
{
	sigset_t none;
	pid_t pid = fork();

	if (pid < 0)
		die("cannot fork the app: %s", strerror(errno));
	if (pid)
		return pid;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();
	for (int i = 0; stdio && i < 3; i++)
		if (dup2(stdio[i], i) < 0)
			_exit(127);
	become_app(id);
	execvpe(argv[0], argv, envp);
	say("cannot run '%s': %s", argv[0], strerror(errno));
	_exit(127);
}

/* PID 1 inherits every orphan: reap them all, and return when the app itself ends. */
static int reap_until(pid_t app)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);

		if (pid == app)
			return status;
		if (pid < 0 && errno != EINTR)
			die("waiting for the app: %s", strerror(errno));
	}
}

/*
 * The parent's app channel (app_link.h), when it serves one: -1 otherwise, said once.  A parent that does not
 * know the channel (a stock nitro-cli on EC2) refuses the connection at once, and one that is silent is given
 * up on within the timeouts: the app is never held up by it.
 */
static int open_app_channel(void)
{
	struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_cid = PARENT_CID, .svm_port = APP_WIRE_PORT };
	struct timeval t = { APP_LINK_CONNECT_TIMEOUT_MS / 1000, (APP_LINK_CONNECT_TIMEOUT_MS % 1000) * 1000 };
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0), ret;

	if (fd < 0)
		return -1;
	setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &t, sizeof(t));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		say("no app channel on the parent (vsock port %d: %s): the app's output stays on the console",
		    APP_WIRE_PORT, strerror(errno));
		close(fd);
		return -1;
	}
	ret = app_link_handshake(fd, APP_LINK_WELCOME_TIMEOUT_MS);
	if (ret) {
		say("vsock port %d of the parent is not nitrovm's app channel (%s): the app's output stays on the "
		    "console", APP_WIRE_PORT, strerror(-ret));
		close(fd);
		return -1;
	}
	return fd;
}

static void make_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC))
		die("cannot make the app's pipes: %s", strerror(errno));
}

/* The app with its stdio on the channel; returns its wait() status once the parent has it (or gave up). */
static int run_app_linked(char **cmd, char **env, const struct app_identity *id, int chan)
{
	int in[2], out[2], err[2], status, ret;
	struct app_link_io io;
	sigset_t chld;

	make_pipe(in);
	make_pipe(out);
	make_pipe(err);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	io = (struct app_link_io){ .chan = chan, .app_in = in[1], .app_out = out[0], .app_err = err[0],
				   .sigchld = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK),
				   .fallback = STDOUT_FILENO };
	if (io.sigchld < 0)
		die("cannot watch the app: %s", strerror(errno));
	io.app = start_app(cmd, env, id, (const int[]){ in[0], out[1], err[1] });
	close(in[0]);
	close(out[1]);
	close(err[1]);
	ret = app_link_relay(&io, &status);
	if (ret)
		say("the parent did not take the app's exit status (%s)", strerror(-ret));
	close(io.sigchld);
	return status;
}

int main(void)
{
	char cmdline[MAX_KERNEL_CMDLINE], how[128];
	struct app_identity id = { 0 };
	char **cmd, **env;
	size_t ncmd, nenv;
	sigset_t all;
	int chan, status;

	/* This program mounts over / and reboots the machine: never as anything but an enclave's init. */
	if (getpid() != 1) {
		fprintf(stderr,
			PREFIX "this is the enclave's init and runs only as PID 1 inside an enclave\n");
		return 2;
	}
	/* PID 1 gets only the signals it handles, and it handles none: nothing may kill it by accident. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	mount_devtmpfs();
	open_console();
	read_kernel_cmdline(cmdline, sizeof(cmdline));
	load_modules();
	if (init_heartbeat_enabled(cmdline))
		heartbeat();
	else
		say("heartbeat skipped (nitrovm.heartbeat=0 on the kernel command line)");
	env = read_list(ENV_FILE, INIT_LINES_ENV, &nenv);
	cmd = read_list(CMD_FILE, INIT_LINES_CMD, &ncmd);
	if (!ncmd)
		die("%s is empty: there is no app to run", CMD_FILE);
	read_identity(&id);
	switch_root();
	mount_app_filesystems();
	env = app_environment(env, nenv);
	if (id.has_user)
		say("starting %s in %s as uid %u gid %u", cmd[0], id.cwd, id.user.uid, id.user.gid);
	else
		say("starting %s", cmd[0]);
	chan = open_app_channel();
	if (chan >= 0)
		status = run_app_linked(cmd, env, &id, chan);
	else
		status = reap_until(start_app(cmd, env, &id, NULL));
	init_describe_status(status, how, sizeof(how));
	say("app %s", how);
	end_enclave();
}
