// SPDX-License-Identifier: MIT
/*
 * i8042 keyboard controller without devices behind it.  Commands and replies are those Linux's i8042 and atkbd
 * drivers issue while probing (controller self-test, control byte read/write, port tests, keyboard reset/ID);
 * command 0xFE (pulse the reset line) and an output-port write clearing the reset bit end the enclave.
 */
#include "i8042.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define I8042_STR_OBF	  0x01 /* output buffer full: data for the guest at port 0x60 */
#define I8042_STR_SYSFLAG 0x04 /* set once the controller passed its self-test */
#define I8042_STR_CMDDAT  0x08 /* last write was to the command port */
#define I8042_STR_KEYLOCK 0x10 /* keyboard not inhibited */

#define I8042_CTR_KBDINT 0x01
#define I8042_CTR_SYSFLAG 0x04
#define I8042_CTR_AUXDIS 0x20
#define I8042_CTR_XLATE	 0x40

#define I8042_CMD_CTL_RCTR   0x20
#define I8042_CMD_CTL_WCTR   0x60
#define I8042_CMD_AUX_DISABLE 0xa7
#define I8042_CMD_AUX_ENABLE 0xa8
#define I8042_CMD_AUX_TEST   0xa9
#define I8042_CMD_CTL_TEST   0xaa
#define I8042_CMD_KBD_TEST   0xab
#define I8042_CMD_KBD_DISABLE 0xad
#define I8042_CMD_KBD_ENABLE 0xae
#define I8042_CMD_READ_OUTP  0xd0
#define I8042_CMD_WRITE_OUTP 0xd1
#define I8042_CMD_KBD_LOOP   0xd2
#define I8042_CMD_AUX_LOOP   0xd3
#define I8042_CMD_AUX_SEND   0xd4
#define I8042_CMD_PULSE_RESET 0xfe

#define I8042_OUTP_RESET 0x01 /* output port bit 0: the CPU reset line, active low */
#define I8042_OUTP_A20	 0x02

#define I8042_RET_CTL_TEST 0x55
#define I8042_RET_PORT_OK  0x00
#define I8042_RET_NO_AUX   0xff /* "clock line stuck": there is no mouse port */

#define ATKBD_CMD_RESET_BAT 0xff
#define ATKBD_CMD_GETID	    0xf2
#define ATKBD_RET_ACK	    0xfa
#define ATKBD_RET_BAT	    0xaa

/* Replies queued for port 0x60: the longest is ACK + two ID bytes. */
#define I8042_QUEUE_SIZE 8

struct i8042 {
	pthread_mutex_t lock;
	i8042_reset_fn reset;
	void *reset_opaque;
	i8042_irq_fn irq;
	void *irq_opaque;
	bool irq_level;

	uint8_t status, ctr, outp;
	uint8_t pending_cmd; /* a command waiting for its data byte on port 0x60, or 0 */
	uint8_t queue[I8042_QUEUE_SIZE];
	unsigned int qhead, qcount;
};

static void i8042_push(struct i8042 *k, uint8_t v)
{
	if (k->qcount == I8042_QUEUE_SIZE)
		return;
	k->queue[(k->qhead + k->qcount++) % I8042_QUEUE_SIZE] = v;
}

static void i8042_update(struct i8042 *k)
{
	bool level;

	if (k->qcount)
		k->status |= I8042_STR_OBF;
	else
		k->status &= ~I8042_STR_OBF;
	level = k->qcount && (k->ctr & I8042_CTR_KBDINT);
	if (level != k->irq_level) {
		k->irq_level = level;
		if (k->irq)
			k->irq(k->irq_opaque, level);
	}
}

static void i8042_do_reset(struct i8042 *k)
{
	if (k->reset)
		k->reset(k->reset_opaque);
}

static void i8042_command(struct i8042 *k, uint8_t cmd)
{
	switch (cmd) {
	case I8042_CMD_CTL_RCTR:
		i8042_push(k, k->ctr);
		break;
	case I8042_CMD_CTL_WCTR:
	case I8042_CMD_WRITE_OUTP:
	case I8042_CMD_KBD_LOOP:
	case I8042_CMD_AUX_LOOP:
	case I8042_CMD_AUX_SEND:
		k->pending_cmd = cmd;
		break;
	case I8042_CMD_CTL_TEST:
		k->status |= I8042_STR_SYSFLAG;
		i8042_push(k, I8042_RET_CTL_TEST);
		break;
	case I8042_CMD_KBD_TEST:
		i8042_push(k, I8042_RET_PORT_OK);
		break;
	case I8042_CMD_AUX_TEST:
		i8042_push(k, I8042_RET_NO_AUX);
		break;
	case I8042_CMD_READ_OUTP:
		i8042_push(k, k->outp);
		break;
	case I8042_CMD_KBD_DISABLE:
	case I8042_CMD_KBD_ENABLE:
	case I8042_CMD_AUX_DISABLE:
	case I8042_CMD_AUX_ENABLE:
		break;
	case I8042_CMD_PULSE_RESET:
		i8042_do_reset(k);
		break;
	default:
		/* 0xF0-0xFF pulse output-port lines; bit 0 clear pulses reset too. */
		if (cmd >= 0xf0 && !(cmd & I8042_OUTP_RESET))
			i8042_do_reset(k);
		break;
	}
}

/* A byte for the keyboard itself: acknowledge it like a keyboard that never has keys pressed. */
static void i8042_kbd_write(struct i8042 *k, uint8_t v)
{
	i8042_push(k, ATKBD_RET_ACK);
	if (v == ATKBD_CMD_RESET_BAT) {
		i8042_push(k, ATKBD_RET_BAT);
	} else if (v == ATKBD_CMD_GETID) {
		i8042_push(k, 0xab);
		i8042_push(k, 0x83);
	}
}

static void i8042_data_write(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->pending_cmd;

	k->pending_cmd = 0;
	switch (cmd) {
	case I8042_CMD_CTL_WCTR:
		k->ctr = v;
		break;
	case I8042_CMD_WRITE_OUTP:
		k->outp = v;
		if (!(v & I8042_OUTP_RESET))
			i8042_do_reset(k);
		break;
	case I8042_CMD_KBD_LOOP:
		i8042_push(k, v);
		break;
	case I8042_CMD_AUX_LOOP:
	case I8042_CMD_AUX_SEND:
		break; /* no mouse: the byte goes nowhere */
	default:
		i8042_kbd_write(k, v);
		break;
	}
}

void i8042_data_io(void *opaque, uint64_t offset, void *data, unsigned int len, bool is_write)
{
	struct i8042 *k = opaque;
	uint8_t *p = data;

	if (offset || !len)
		return;
	pthread_mutex_lock(&k->lock);
	if (is_write) {
		k->status &= ~I8042_STR_CMDDAT;
		i8042_data_write(k, p[0]);
	} else {
		memset(p, 0, len);
		if (k->qcount) {
			p[0] = k->queue[k->qhead];
			k->qhead = (k->qhead + 1) % I8042_QUEUE_SIZE;
			k->qcount--;
		}
	}
	i8042_update(k);
	pthread_mutex_unlock(&k->lock);
}

void i8042_command_io(void *opaque, uint64_t offset, void *data, unsigned int len, bool is_write)
{
	struct i8042 *k = opaque;
	uint8_t *p = data;

	if (offset || !len)
		return;
	pthread_mutex_lock(&k->lock);
	if (is_write) {
		k->status |= I8042_STR_CMDDAT;
		k->pending_cmd = 0;
		i8042_command(k, p[0]);
	} else {
		memset(p, 0, len);
		p[0] = k->status;
	}
	i8042_update(k);
	pthread_mutex_unlock(&k->lock);
}

struct i8042 *i8042_create(i8042_reset_fn reset, void *reset_opaque, i8042_irq_fn irq, void *irq_opaque)
{
	struct i8042 *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	pthread_mutex_init(&k->lock, NULL);
	k->reset = reset;
	k->reset_opaque = reset_opaque;
	k->irq = irq;
	k->irq_opaque = irq_opaque;
	k->status = I8042_STR_KEYLOCK;
	/* What firmware leaves behind: keyboard interrupt on, translation on, no mouse, POST passed. */
	k->ctr = I8042_CTR_KBDINT | I8042_CTR_SYSFLAG | I8042_CTR_AUXDIS | I8042_CTR_XLATE;
	k->outp = I8042_OUTP_RESET | I8042_OUTP_A20;
	return k;
}

void i8042_destroy(struct i8042 *k)
{
	if (!k)
		return;
	pthread_mutex_destroy(&k->lock);
	free(k);
}
