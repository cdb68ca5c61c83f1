// SPDX-License-Identifier: MIT
/*
 * The probe's small libc: memory and string helpers (GCC may emit calls to
 * mem* even freestanding), the 16550 console, a printf subset and CRC-32.
 */
#include "probe.h"

/* 16550 registers, offsets from COM1_BASE */
#define UART_THR 0
#define UART_DLL 0
#define UART_IER 1
#define UART_DLM 1
#define UART_IIR 2
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5

#define UART_LCR_8N1       0x03
#define UART_LCR_DLAB      0x80
#define UART_FCR_ENABLE    0xC7 /* enable, clear both FIFOs, 14-byte trigger */
#define UART_IIR_FIFO      0xC0
#define UART_MCR_DTR_RTS   0x03
#define UART_MCR_OUT2      0x08 /* gates the IRQ line on PCs */
#define UART_LSR_THRE      0x20
#define UART_FIFO_DEPTH    16
#define UART_DIVISOR_115200 1

/*
 * Bound on LSR polls per character: a console that never drains must not hang
 * the probe.  Each poll is a VM exit, so this is far more than any real drain.
 */
#define UART_POLL_LIMIT 100000

void *memset(void *s, int c, size_t n)
{
	uint8_t *p = s;

	while (n--)
		*p++ = (uint8_t)c;
	return s;
}

void *memcpy(void *d, const void *s, size_t n)
{
	uint8_t *dp = d;
	const uint8_t *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	uint8_t *dp = d;
	const uint8_t *sp = s;

	if (dp < sp)
		return memcpy(d, s, n);
	while (n--)
		dp[n] = sp[n];
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *pa = a, *pb = b;

	for (; n; n--, pa++, pb++) {
		if (*pa != *pb)
			return *pa - *pb;
	}
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

size_t strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

/* ---- console ---- */

static bool uart_has_fifo;

void serial_init(void)
{
	outb(COM1_BASE + UART_IER, 0);
	outb(COM1_BASE + UART_LCR, UART_LCR_DLAB);
	outb(COM1_BASE + UART_DLL, UART_DIVISOR_115200);
	outb(COM1_BASE + UART_DLM, 0);
	outb(COM1_BASE + UART_LCR, UART_LCR_8N1);
	outb(COM1_BASE + UART_FCR, UART_FCR_ENABLE);
	outb(COM1_BASE + UART_MCR, UART_MCR_DTR_RTS | UART_MCR_OUT2);
	/* With a FIFO we may send 16 bytes per THRE poll: a third of the exits. */
	uart_has_fifo = (inb(COM1_BASE + UART_IIR) & UART_IIR_FIFO) == UART_IIR_FIFO;
}

static void uart_wait_thre(void)
{
	for (int i = 0; i < UART_POLL_LIMIT; i++) {
		if (inb(COM1_BASE + UART_LSR) & UART_LSR_THRE)
			return;
		cpu_relax();
	}
}

void serial_write(const char *s, size_t n)
{
	size_t burst = uart_has_fifo ? UART_FIFO_DEPTH : 1;

	while (n) {
		uart_wait_thre();
		for (size_t i = 0; i < burst && n; i++, n--) {
			if (*s == '\n') {
				/* CRLF costs one FIFO slot more; keep it in this burst
				 * only if there is room. */
				if (i + 1 >= burst)
					break;
				outb(COM1_BASE + UART_THR, '\r');
				i++;
			}
			outb(COM1_BASE + UART_THR, (uint8_t)*s++);
		}
	}
}

/* ---- formatting: %[-0][width][.prec][l|ll|z](d|i|u|x|X|p|s|c|%) ---- */

struct outbuf {
	char *buf;
	size_t size, len;
};

static void put(struct outbuf *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void put_num(struct outbuf *o, uint64_t v, unsigned base, bool neg, int width, bool zero,
		    bool left, bool upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int n = 0, pad;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	pad = width - n - (neg ? 1 : 0);
	if (left)
		zero = false;
	if (!left && !zero)
		for (; pad > 0; pad--)
			put(o, ' ');
	if (neg)
		put(o, '-');
	if (zero)
		for (; pad > 0; pad--)
			put(o, '0');
	while (n)
		put(o, tmp[--n]);
	for (; pad > 0; pad--)
		put(o, ' ');
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct outbuf o = { buf, size, 0 };

	for (; *fmt; fmt++) {
		bool zero = false, left = false;
		int width = 0, lng = 0, prec = -1;
		uint64_t v;

		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		for (;; fmt++) {
			if (*fmt == '0')
				zero = true;
			else if (*fmt == '-')
				left = true;
			else
				break;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		if (*fmt == '.') {
			/* precision: only for %s, e.g. "%.4s" for table signatures */
			prec = 0;
			for (fmt++; *fmt >= '0' && *fmt <= '9'; fmt++)
				prec = prec * 10 + (*fmt - '0');
		}
		while (*fmt == 'l' || *fmt == 'z') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
		case 'i': {
			int64_t s = lng ? va_arg(ap, int64_t) : va_arg(ap, int);

			put_num(&o, s < 0 ? (uint64_t)-s : (uint64_t)s, 10, s < 0, width, zero, left, false);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
			v = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int);
			put_num(&o, v, *fmt == 'u' ? 10 : 16, false, width, zero, left, *fmt == 'X');
			break;
		case 'p':
			put(&o, '0');
			put(&o, 'x');
			put_num(&o, (uint64_t)va_arg(ap, void *), 16, false, width, zero, left, false);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			int n;

			if (!s)
				s = "(null)";
			n = (int)(prec >= 0 ? strnlen(s, (size_t)prec) : strlen(s));
			if (!left)
				for (int i = n; i < width; i++)
					put(&o, ' ');
			for (int i = 0; i < n; i++)
				put(&o, s[i]);
			if (left)
				for (int i = n; i < width; i++)
					put(&o, ' ');
			break;
		}
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case '%':
			put(&o, '%');
			break;
		case '\0':
			fmt--;
			break;
		default:
			put(&o, '%');
			put(&o, *fmt);
			break;
		}
	}
	if (o.size)
		o.buf[o.len < o.size ? o.len : o.size - 1] = '\0';
	return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/* One line at most per call; long cmdlines are printed in pieces by the caller. */
#define PRINTK_MAX 320

void printk(const char *fmt, ...)
{
	char buf[PRINTK_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(buf))
		n = sizeof(buf) - 1;
	serial_write(buf, (size_t)n);
}

/* ---- checksums ---- */

/* CRC-32 as zlib computes it (reflected, polynomial 0xEDB88320), table driven: the
 * guest executes a few million instructions a second here, bit loops are too slow. */
static uint32_t crc_table[256];
static bool crc_table_ready;

uint32_t crc32(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (!crc_table_ready) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
			crc_table[i] = c;
		}
		crc_table_ready = true;
	}
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
	return ~crc;
}

/* ACPI and MP tables: all bytes sum to 0 modulo 256. */
uint8_t checksum8(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return sum;
}
