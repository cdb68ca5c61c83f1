/* SPDX-License-Identifier: MIT */
/*
 * Real-mode part of the probe bzImage: the boot sector, the setup header at 0x1F1
 * and the 16-bit setup entry at 0x200.
 *
 * Boot loaders that use the 64-bit or 32-bit boot protocol (nitrovm, Firecracker)
 * only read the header.  Firmware that boots Linux the traditional way (QEMU's
 * linuxboot option ROM, qboot in -M microvm) loads these sectors below 1 MiB and
 * jumps to setup_seg+0x20:0 in real mode; then we do what Linux's setup does, in
 * miniature: build a zero page with the BIOS E820 map, switch to 32-bit protected
 * mode and enter the protected-mode image at code32_start with %esi = zero page.
 *
 * Linked at 0: every address is an offset in the setup segment.
 */

#define SMAP		0x534D4150	/* "SMAP", the E820 signature */
#define E820_MAX	128
#define E820_ENTRY_SIZE	20
#define ZP_OFF		0x1000		/* zero page, inside the 0x8000 setup area */
#define STACK_TOP	0x3000		/* real-mode stack, above the zero page */
#define BOOT_CS		0x10
#define BOOT_DS		0x18
#define CR0_PE		0x1

/* zero page offsets (struct boot_params) */
#define BP_E820_ENTRIES	0x1E8
#define BP_HDR		0x1F1
#define BP_HDR_END	0x280
#define BP_E820_TABLE	0x2D0
#define BP_CODE32_START	0x214

	.code16
	.section ".bstext", "ax"
	.globl	bootsect_start
bootsect_start:
	/* Booted from a disk by a BIOS: say so and stop. */
	ljmp	$0x07c0, $1f - bootsect_start
1:	movw	%cs, %ax
	movw	%ax, %ds
	movw	$bs_msg - bootsect_start, %si
2:	lodsb
	testb	%al, %al
	jz	3f
	movb	$0x0e, %ah
	movw	$7, %bx
	int	$0x10
	jmp	2b
3:	hlt
	jmp	3b
bs_msg:
	.asciz	"nitrovm probe: boot me with a Linux boot loader\r\n"

	.org	0x1F1
	.globl	hdr
hdr:
setup_sects:	.byte	0		/* patched by mkbzimage.py */
root_flags:	.word	0
syssize:	.long	0		/* patched: protected-mode size / 16 */
ram_size:	.word	0
vid_mode:	.word	0xFFFF		/* NORMAL_VGA */
root_dev:	.word	0
boot_flag:	.word	0xAA55

	/* 0x200: the boot protocol's jump to the real-mode entry */
	.byte	0xeb
	.byte	start_of_setup - 1f
1:	.ascii	"HdrS"
	.word	0x020F			/* boot protocol 2.15 */
realmode_swtch:	.long	0
start_sys_seg:	.word	0x1000		/* obsolete */
		.word	version_str - 0x200
type_of_loader:	.byte	0
loadflags:	.byte	0x01		/* LOADED_HIGH */
setup_move_size: .word	0x8000
code32_start:	.long	0x100000	/* loaders that relocate update it */
ramdisk_image:	.long	0
ramdisk_size:	.long	0
bootsect_kludge: .long	0
heap_end_ptr:	.word	0
ext_loader_ver:	.byte	0
ext_loader_type: .byte	0
cmd_line_ptr:	.long	0
initrd_addr_max: .long	0x7fffffff
kernel_alignment: .long	0x1000		/* position independent: any 4 KiB page */
relocatable_kernel: .byte 1
min_alignment:	.byte	12
xloadflags:	.word	0x0001		/* XLF_KERNEL_64: 64-bit entry at +0x200 */
cmdline_size:	.long	2047
hardware_subarch: .long	0
hardware_subarch_data: .quad 0
payload_offset:	.long	0
payload_length:	.long	0
setup_data:	.quad	0
pref_address:	.quad	0x100000
init_size:	.long	0		/* patched: image + bss + page tables + stacks */
handover_offset: .long	0
kernel_info_offset: .long 0x1C0		/* kernel_info in head.S */

version_str:
	.asciz	"nitrovm-probe"

start_of_setup:
	cli
	cld
	/* Boot protocol: DS = ES = SS = setup segment, CS = DS + 0x20.  Make CS = DS. */
	movw	%ds, %ax
	movw	%ax, %es
	movw	%ax, %ss
	movw	$STACK_TOP, %sp
	pushw	%ds
	pushw	$2f
	lretw
2:
	/* The zero page is a fresh 4 KiB block: the setup sectors themselves overlap
	 * the E820 table offsets, so they cannot serve as one. */
	movw	$ZP_OFF, %di
	movw	$4096 / 2, %cx
	xorw	%ax, %ax
	rep stosw

	/* Copy the setup header as the loader left it (cmdline, initrd, ...). */
	movw	$BP_HDR, %si
	movw	$ZP_OFF + BP_HDR, %di
	movw	$BP_HDR_END - BP_HDR, %cx
	rep movsb

	/* INT 15h E820: the memory map, straight into the zero page. */
	xorl	%ebx, %ebx
	xorw	%bp, %bp
	movw	$ZP_OFF + BP_E820_TABLE, %di
e820_next:
	movl	$0xE820, %eax
	movl	$SMAP, %edx
	movl	$E820_ENTRY_SIZE, %ecx
	pushw	%di
	pushw	%bp
	int	$0x15
	popw	%bp
	popw	%di
	cli
	jc	e820_done
	cmpl	$SMAP, %eax
	jne	e820_done
	/* Skip empty entries: qboot returns one past its table, with size 0. */
	movl	8(%di), %eax
	orl	12(%di), %eax
	jz	1f
	incw	%bp
	addw	$E820_ENTRY_SIZE, %di
1:
	cmpw	$E820_MAX, %bp
	jae	e820_done
	testl	%ebx, %ebx
	jnz	e820_next
e820_done:
	movw	%bp, %ax
	movb	%al, ZP_OFF + BP_E820_ENTRIES

	/* A20 through the fast gate, if there is one (0xFF: no port). Never set
	 * bit 0: that is the fast reset. */
	inb	$0x92, %al
	cmpb	$0xff, %al
	je	1f
	orb	$0x02, %al
	andb	$0xfe, %al
	outb	%al, $0x92
1:
	/* Linear addresses: the GDT and the 32-bit code are found through the
	 * segment base, wherever the loader put us. */
	xorl	%ebx, %ebx
	movw	%ds, %bx
	shll	$4, %ebx
	leal	gdt(%ebx), %eax
	movl	%eax, gdt_desc + 2
	leal	pm32(%ebx), %eax
	movl	%eax, pm32_ptr
	leal	ZP_OFF(%ebx), %esi

	lgdtl	gdt_desc
	movl	%cr0, %eax
	orl	$CR0_PE, %eax
	movl	%eax, %cr0
	ljmpl	*pm32_ptr

	.code32
pm32:
	movl	$BOOT_DS, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	/* 32-bit boot protocol: %esi = boot_params, %ebp = %edi = %ebx = 0. */
	movl	BP_CODE32_START(%esi), %eax
	xorl	%ebp, %ebp
	xorl	%edi, %edi
	xorl	%ebx, %ebx
	jmpl	*%eax

	.balign	8
gdt:
	.quad	0
	.quad	0
	.quad	0x00cf9a000000ffff	/* 0x10: 4 GiB flat code, 32-bit */
	.quad	0x00cf92000000ffff	/* 0x18: 4 GiB flat data */
gdt_end:
gdt_desc:
	.word	gdt_end - gdt - 1
	.long	0
pm32_ptr:
	.long	0
	.word	BOOT_CS
