// SPDX-License-Identifier: MIT
/*
 * /init of the nested tier's hello enclave image: prove a real Linux booted to user space, report the CPUs it
 * brought online, and end the enclave.
 *
 * Output (on the console, which tests read from nitrovm's console stream):
 *   NITROVM-HELLO-MARKER
 *   NITROVM-HELLO-KERNEL <release>
 *   NITROVM-HELLO-CPUS <count> <online list, e.g. 0-1>
 *   NITROVM-HELLO-TEXT <virtual address of _text>      (from /proc/kallsyms: init is root, so it is the real one)
 *   NITROVM-HELLO-CODE <physical start of Kernel code>  (from /proc/iomem)
 *   NITROVM-HELLO-EXIT <poweroff|reboot>
 *
 * It ends the enclave with reboot(RB_POWER_OFF) when the kernel found ACPI (power off is ACPI S5; without ACPI
 * the kernel can only halt, and a halted enclave never ends), else with reboot(RB_AUTOBOOT), which the EIF's
 * reboot=k turns into the i8042 reset that ends a Nitro enclave. hello_exit=poweroff or hello_exit=reboot on
 * the kernel command line (the kernel hands unknown name=value parameters to init as environment) forces one.
 * If reboot() returns, init exits and the kernel panics; panic=N on the command line then reboots.
 *
 * Build: gcc -static -O2 -o init hello_init.c
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <termios.h>
#include <unistd.h>

/* The ramdisk may hold no /dev/console node (packing one needs mknod), so take the console from devtmpfs. */
static void open_console(void)
{
	int fd;

	mkdir("/dev", 0755);
	if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) != 0 && errno != EBUSY)
		return;
	fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd < 0)
		return;
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
}

/* Count the CPUs in a sysfs cpu list such as "0-3,5". */
static int count_cpu_list(const char *list)
{
	const char *p = list;
	int count = 0;

	while (*p && *p != '\n') {
		char *end;
		long lo = strtol(p, &end, 10), hi = lo;

		if (end == p)
			return -1;
		if (*end == '-') {
			p = end + 1;
			hi = strtol(p, &end, 10);
			if (end == p || hi < lo)
				return -1;
		}
		count += (int)(hi - lo + 1);
		p = end;
		if (*p == ',')
			p++;
	}
	return count;
}

static void report_cpus(void)
{
	char online[256] = "";
	ssize_t n;
	int fd;

	mkdir("/sys", 0755);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	fd = open("/sys/devices/system/cpu/online", O_RDONLY);
	if (fd < 0) {
		printf("NITROVM-HELLO-CPUS %ld unknown (cannot read /sys/devices/system/cpu/online: %s)\n",
		       sysconf(_SC_NPROCESSORS_ONLN), strerror(errno));
		return;
	}
	n = read(fd, online, sizeof(online) - 1);
	close(fd);
	if (n < 0)
		n = 0;
	online[n] = '\0';
	online[strcspn(online, "\n")] = '\0';
	printf("NITROVM-HELLO-CPUS %d %s\n", count_cpu_list(online), online);
}

/* The first line of a /proc file containing what, or "" (the file may be long: stop at the match). */
static void find_line(const char *path, const char *what, char *out, size_t len)
{
	FILE *f = fopen(path, "r");
	char line[256];

	out[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, what)) {
			snprintf(out, len, "%s", line);
			break;
		}
	fclose(f);
}

/* Where the kernel runs, virtually and physically: what KASLR chose (the host path's equivalence tests). */
static void report_kernel_place(void)
{
	char line[256];

	mkdir("/proc", 0755);
	mount("proc", "/proc", "proc", 0, NULL);
	find_line("/proc/kallsyms", " T _text\n", line, sizeof(line));
	printf("NITROVM-HELLO-TEXT %.*s\n", (int)strcspn(line, " "), line[0] ? line : "unknown");
	find_line("/proc/iomem", " : Kernel code", line, sizeof(line));
	printf("NITROVM-HELLO-CODE %.*s\n", (int)strcspn(line + strspn(line, " "), "-"),
	       line[0] ? line + strspn(line, " ") : "unknown");
}

int main(void)
{
	const char *how = getenv("hello_exit");
	struct utsname u;
	int reboot_instead;

	open_console();
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("NITROVM-HELLO-MARKER\n");
	if (uname(&u) == 0)
		printf("NITROVM-HELLO-KERNEL %s\n", u.release);
	report_cpus();
	report_kernel_place();
	if (how && !strcmp(how, "reboot"))
		reboot_instead = 1;
	else if (how && !strcmp(how, "poweroff"))
		reboot_instead = 0;
	else
		reboot_instead = access("/sys/firmware/acpi", F_OK) != 0;
	printf("NITROVM-HELLO-EXIT %s\n", reboot_instead ? "reboot" : "poweroff");
	fflush(stdout);
	/* The tty sends our lines while the kernel prints its own synchronously: let ours out before the
	 * shutdown messages, or they interleave mid-line. */
	tcdrain(STDOUT_FILENO);
	sync();
	reboot(reboot_instead ? RB_AUTOBOOT : RB_POWER_OFF);
	printf("NITROVM-HELLO: reboot() returned: %s\n", strerror(errno));
	return 1;
}
