// SPDX-License-Identifier: MIT
/*
 * 16550A UART.  Transmission is instantaneous (THR is always empty again by the time the guest looks), so the
 * guest never waits on a baud rate.  Receive is a FIFO larger than the chip's 16 bytes: console input arrives in
 * bursts from the host and the guest drains it at its own pace.  The register behaviour, including loopback, is
 * what Linux's 8250 driver checks when it probes the port.
 */
#include "serial.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Register offsets (DLAB = LCR bit 7 switches offsets 0 and 1 to the divisor latch). */
#define UART_RBR 0 /* read */
#define UART_THR 0 /* write */
#define UART_DLL 0
#define UART_IER 1
#define UART_DLM 1
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define UART_IER_RDI  0x01 /* receive data available */
#define UART_IER_THRI 0x02 /* transmit holding register empty */
#define UART_IER_RLSI 0x04 /* receiver line status */
#define UART_IER_MSI  0x08 /* modem status */
#define UART_IER_MASK 0x0f

#define UART_IIR_NO_INT	   0x01
#define UART_IIR_MSI	   0x00
#define UART_IIR_THRI	   0x02
#define UART_IIR_RDI	   0x04
#define UART_IIR_RLSI	   0x06
#define UART_IIR_FIFO_BITS 0xc0 /* "FIFOs enabled", what makes Linux call the chip a 16550A */

#define UART_FCR_ENABLE_FIFO 0x01
#define UART_FCR_CLEAR_RCVR  0x02

#define UART_LCR_DLAB 0x80

#define UART_MCR_DTR  0x01
#define UART_MCR_RTS  0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08 /* gates the interrupt line on PC hardware */
#define UART_MCR_LOOP 0x10
#define UART_MCR_MASK 0x1f

#define UART_LSR_DR   0x01
#define UART_LSR_OE   0x02
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40

#define UART_MSR_DCTS  0x01
#define UART_MSR_DDSR  0x02
#define UART_MSR_TERI  0x04
#define UART_MSR_DDCD  0x08
#define UART_MSR_DELTA 0x0f
#define UART_MSR_CTS   0x10
#define UART_MSR_DSR   0x20
#define UART_MSR_RI    0x40
#define UART_MSR_DCD   0x80

/* Host-side receive buffer: enough for a pasted line or two; more is dropped as an overrun, like the chip. */
#define SERIAL_RX_SIZE 4096

struct serial {
	pthread_mutex_t lock;
	serial_output_fn out;
	void *out_opaque;
	serial_irq_fn irq;
	void *irq_opaque;
	bool irq_level;

	uint8_t ier, lcr, mcr, lsr_err, msr, scr, dll, dlm;
	bool fifo_enabled;
	bool thr_int_pending; /* THR became empty and IIR has not reported it yet */

	uint8_t rx[SERIAL_RX_SIZE];
	size_t rx_head, rx_count;
};

static uint8_t serial_iir(const struct serial *s)
{
	uint8_t fifo = s->fifo_enabled ? UART_IIR_FIFO_BITS : 0;

	if ((s->ier & UART_IER_RLSI) && s->lsr_err)
		return fifo | UART_IIR_RLSI;
	if ((s->ier & UART_IER_RDI) && s->rx_count)
		return fifo | UART_IIR_RDI;
	if ((s->ier & UART_IER_THRI) && s->thr_int_pending)
		return fifo | UART_IIR_THRI;
	if ((s->ier & UART_IER_MSI) && (s->msr & UART_MSR_DELTA))
		return fifo | UART_IIR_MSI;
	return fifo | UART_IIR_NO_INT;
}

static void serial_update_irq(struct serial *s)
{
	/* OUT2 is the interrupt enable on PCs; Linux sets it when it opens the port. */
	bool level = !(serial_iir(s) & UART_IIR_NO_INT) && (s->mcr & UART_MCR_OUT2) && !(s->mcr & UART_MCR_LOOP);

	if (level == s->irq_level)
		return;
	s->irq_level = level;
	if (s->irq)
		s->irq(s->irq_opaque, level);
}

/* Modem status lines: a connected terminal outside loopback, the MCR outputs wired back inside it. */
static void serial_update_msr(struct serial *s)
{
	uint8_t lines, old = s->msr & ~UART_MSR_DELTA;

	if (s->mcr & UART_MCR_LOOP) {
		lines = (s->mcr & UART_MCR_RTS ? UART_MSR_CTS : 0) | (s->mcr & UART_MCR_DTR ? UART_MSR_DSR : 0) |
			(s->mcr & UART_MCR_OUT1 ? UART_MSR_RI : 0) | (s->mcr & UART_MCR_OUT2 ? UART_MSR_DCD : 0);
	} else {
		lines = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
	}
	s->msr = lines | (s->msr & UART_MSR_DELTA);
	if ((lines ^ old) & UART_MSR_CTS)
		s->msr |= UART_MSR_DCTS;
	if ((lines ^ old) & UART_MSR_DSR)
		s->msr |= UART_MSR_DDSR;
	if ((old & UART_MSR_RI) && !(lines & UART_MSR_RI))
		s->msr |= UART_MSR_TERI;
	if ((lines ^ old) & UART_MSR_DCD)
		s->msr |= UART_MSR_DDCD;
}

static size_t serial_rx_push(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	for (; n < len && s->rx_count < SERIAL_RX_SIZE; n++, s->rx_count++)
		s->rx[(s->rx_head + s->rx_count) % SERIAL_RX_SIZE] = buf[n];
	if (n < len)
		s->lsr_err |= UART_LSR_OE;
	return n;
}

static uint8_t serial_rx_pop(struct serial *s)
{
	uint8_t c;

	if (!s->rx_count)
		return 0;
	c = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % SERIAL_RX_SIZE;
	s->rx_count--;
	return c;
}

static void serial_write_reg(struct serial *s, unsigned int reg, uint8_t v)
{
	bool dlab = s->lcr & UART_LCR_DLAB;

	switch (reg) {
	case UART_THR:
		if (dlab) {
			s->dll = v;
			break;
		}
		if (s->mcr & UART_MCR_LOOP)
			serial_rx_push(s, &v, 1);
		else if (s->out)
			s->out(s->out_opaque, &v, 1);
		s->thr_int_pending = true;
		break;
	case UART_IER:
		if (dlab) {
			s->dlm = v;
			break;
		}
		/* Enabling THRI while THR is empty raises the interrupt at once, as the chip does. */
		if (!(s->ier & UART_IER_THRI) && (v & UART_IER_THRI))
			s->thr_int_pending = true;
		s->ier = v & UART_IER_MASK;
		break;
	case UART_FCR:
		s->fifo_enabled = v & UART_FCR_ENABLE_FIFO;
		if (v & UART_FCR_CLEAR_RCVR)
			s->rx_head = s->rx_count = 0;
		break;
	case UART_LCR:
		s->lcr = v;
		break;
	case UART_MCR:
		s->mcr = v & UART_MCR_MASK;
		serial_update_msr(s);
		break;
	case UART_LSR:
	case UART_MSR:
		break; /* read-only; writes are factory-test features we do not have */
	case UART_SCR:
		s->scr = v;
		break;
	}
}

static uint8_t serial_read_reg(struct serial *s, unsigned int reg)
{
	bool dlab = s->lcr & UART_LCR_DLAB;
	uint8_t v;

	switch (reg) {
	case UART_RBR:
		return dlab ? s->dll : serial_rx_pop(s);
	case UART_IER:
		return dlab ? s->dlm : s->ier;
	case UART_IIR:
		v = serial_iir(s);
		/* Reading IIR acknowledges a THR-empty interrupt (and only that one). */
		if ((v & 0x0f) == UART_IIR_THRI)
			s->thr_int_pending = false;
		return v;
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		v = UART_LSR_THRE | UART_LSR_TEMT | (s->rx_count ? UART_LSR_DR : 0) | s->lsr_err;
		s->lsr_err = 0;
		return v;
	case UART_MSR:
		v = s->msr;
		s->msr &= ~UART_MSR_DELTA;
		return v;
	case UART_SCR:
		return s->scr;
	}
	return 0xff;
}

void serial_io(void *opaque, uint64_t offset, void *data, unsigned int len, bool is_write)
{
	struct serial *s = opaque;
	uint8_t *p = data;

	/* The UART is a byte device: wider accesses touch only the addressed register. */
	if (offset >= SERIAL_NR_PORTS || !len)
		return;
	pthread_mutex_lock(&s->lock);
	if (is_write) {
		serial_write_reg(s, (unsigned int)offset, p[0]);
	} else {
		memset(p, 0, len);
		p[0] = serial_read_reg(s, (unsigned int)offset);
	}
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	/* In loopback the receiver hears only the transmitter. */
	n = (s->mcr & UART_MCR_LOOP) ? 0 : serial_rx_push(s, buf, len);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

struct serial *serial_create(serial_output_fn out, void *out_opaque, serial_irq_fn irq, void *irq_opaque)
{
	struct serial *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->out = out;
	s->out_opaque = out_opaque;
	s->irq = irq;
	s->irq_opaque = irq_opaque;
	s->lcr = 0x03; /* 8N1, the power-on value */
	s->dll = 0x0c; /* 9600 baud */
	serial_update_msr(s);
	s->msr &= ~UART_MSR_DELTA;
	return s;
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}
