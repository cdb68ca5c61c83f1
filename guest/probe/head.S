/* SPDX-License-Identifier: MIT */
/*
 * Protected-mode part of the probe bzImage, linked at 0 and position independent:
 *
 *   +0x000  startup_32  32-bit boot protocol entry (code32_start), used by firmware
 *                       that goes through the real-mode setup (QEMU), and by 32-bit loaders
 *   +0x1C0  kernel_info (boot protocol 2.15)
 *   +0x200  startup_64  64-bit boot protocol entry (XLF_KERNEL_64), used by nitrovm
 *
 * Plus the interrupt entry stubs and the AP real-mode trampoline.  All of it runs
 * on the PVM hosts' instruction emulator (notes/platform.md); iretq and far
 * returns were checked to work there.
 */

#define SEL_CODE64	0x10
#define SEL_DATA	0x18
#define SEL_CODE32	0x20
#define BP_SCRATCH	0x1E4		/* boot_params.scratch: a 4-byte stack */
#define MSR_EFER	0xC0000080
#define EFER_LME	0x100
#define CR0_PE		0x1
#define CR0_PG		0x80000000
#define CR4_PAE		0x20
#define PTE_P_RW	0x3
#define PDE_2M		0x83		/* present, writable, 2 MiB page */
#define PDE_2M_UC	0x9b		/* ... and cache disabled, for the MMIO GiB */
#define PAGE_2M		0x200000
#define NR_PD		4		/* 4 page directories: 0 - 4 GiB */

	.section ".head.text", "ax"
	.code32
	.globl	startup_32
startup_32:
	cld
	cli
	/* Where are we?  call/pop on the zero page's scratch word, as Linux does. */
	leal	(BP_SCRATCH + 4)(%esi), %esp
	call	1f
1:	popl	%ebp
	subl	$(1b - startup_32), %ebp

	/* Identity map 0 - 4 GiB with 2 MiB pages: PML4, PDPT, 4 PDs. */
	movl	(pgt_rel - startup_32)(%ebp), %edx
	leal	(pgt_rel - startup_32)(%ebp, %edx), %edx
	movl	%edx, %edi
	xorl	%eax, %eax
	movl	$(2 * 4096 / 4), %ecx
	rep stosl
	leal	(0x1000 + PTE_P_RW)(%edx), %eax
	movl	%eax, (%edx)
	leal	(0x2000 + PTE_P_RW)(%edx), %eax
	movl	%eax, 0x1000(%edx)
	addl	$0x1000, %eax
	movl	%eax, 0x1008(%edx)
	addl	$0x1000, %eax
	movl	%eax, 0x1010(%edx)
	addl	$0x1000, %eax
	movl	%eax, 0x1018(%edx)
	leal	0x2000(%edx), %edi
	movl	$PDE_2M, %eax
	movl	$(NR_PD * 512), %ecx
2:	movl	%eax, (%edi)
	movl	$0, 4(%edi)
	addl	$PAGE_2M, %eax
	addl	$8, %edi
	decl	%ecx
	jnz	2b

	/* A GDT with a 64-bit code segment. */
	leal	(gdt64 - startup_32)(%ebp), %eax
	movl	%eax, (gdt64_desc - startup_32 + 2)(%ebp)
	lgdt	(gdt64_desc - startup_32)(%ebp)
	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs

	movl	%cr4, %eax
	orl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	%edx, %cr3
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_LME, %eax
	wrmsr

	movl	(stack_rel - startup_32)(%ebp), %eax
	leal	(stack_rel - startup_32)(%ebp, %eax), %esp
	pushl	$SEL_CODE64
	leal	(startup_64_from32 - startup_32)(%ebp), %eax
	pushl	%eax
	movl	%cr0, %eax
	orl	$(CR0_PG | CR0_PE), %eax
	movl	%eax, %cr0
	lret

	.code64
startup_64_from32:
	movl	%esi, %esi		/* upper halves are undefined after the switch */
	jmp	startup_64

	/*
	 * Self-relative offsets (R_X86_64_PC32, resolved at link time): absolute
	 * symbol values would need run-time relocations in a PIE.
	 */
	.balign	4
pgt_rel:
	.long	boot_pgt - pgt_rel
stack_rel:
	.long	boot_stack_top - stack_rel

	.balign	8
gdt64:
	.quad	0
	.quad	0
	.quad	0x00af9a000000ffff	/* 0x10: 64-bit code */
	.quad	0x00cf92000000ffff	/* 0x18: data */
	.quad	0x00cf9a000000ffff	/* 0x20: 32-bit code */
gdt64_end:
gdt64_desc:
	.word	gdt64_end - gdt64 - 1
	.long	0

	/* Boot protocol 2.15 kernel_info, at kernel_info_offset (setup.S). */
	.org	0x1C0
kernel_info:
	.ascii	"LToP"
	.long	kernel_info_end - kernel_info	/* size */
	.long	kernel_info_end - kernel_info	/* size_total */
	.long	0				/* setup_type_max */
kernel_info_end:

	/* Read by mkprobe.py to fill in init_size: _end relative to this word. */
	.org	0x1F8
	.long	_end - .
	.long	0x45425250			/* "PRBE" */

	/*
	 * 0x200: 64-bit boot protocol entry.  %rsi = boot_params.  The TSC is read
	 * first, before anything can take time: bench/boot turns it into "process
	 * start to first guest instruction" (README.md, probe_main's entry_tsc).
	 */
	.org	0x200
	.globl	startup_64
startup_64:
	rdtsc
	shlq	$32, %rdx
	orq	%rax, %rdx
	movq	%rdx, %r13		/* callee-saved: survives the bss clear below */
	cli
	cld
	leaq	boot_stack_top(%rip), %rsp
	movq	%rsi, %r12
	leaq	__bss_start(%rip), %rdi
	leaq	__bss_end(%rip), %rcx
	subq	%rdi, %rcx
	xorl	%eax, %eax
	rep stosb
	movq	%r12, %rdi
	leaq	startup_32(%rip), %rsi
	movq	%r13, %rdx
	call	probe_main
3:	cli
	hlt
	jmp	3b

	.text
/* ---- interrupt entry ---- */
	.macro	ISR vec
	.balign	16
	.if (\vec == 8) || (\vec == 10) || (\vec == 11) || (\vec == 12) || (\vec == 13) || (\vec == 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq	$0			/* no error code: keep the frame uniform */
	.endif
	pushq	$\vec
	jmp	isr_common
	.endm

	/* One 16-byte stub per vector: stray interrupts (left pending by firmware,
	 * say) are counted and reported instead of faulting on a missing gate. */
	.balign	16
	.globl	isr_stubs
isr_stubs:
	.altmacro
	.set	vec, 0
	.rept	256
	ISR	%vec
	.set	vec, vec + 1
	.endr
	.noaltmacro

isr_common:
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, %rdi
	cld
	call	isr_dispatch
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	addq	$16, %rsp		/* vector, error code */

	iretq

/* Reload CS after lgdt: a far return, since far jumps cannot take a 64-bit offset. */
	.globl	load_cs
load_cs:
	popq	%rax
	pushq	$SEL_CODE64
	pushq	%rax
	lretq

/* APs arrive here from the trampoline, on their own stack. */
	.globl	ap_entry64
ap_entry64:
	cld
	call	ap_main
4:	cli
	hlt
	jmp	4b

/* ---- AP trampoline: copied to a page below 1 MiB, entered by SIPI at CS:0 ---- */
	.section ".rodata.trampoline", "a"
	.balign	16
	.globl	trampoline_start, trampoline_end
	.globl	tr_gdt_desc, tr_pm32_ptr, tr_lm_ptr, tr_cr3, tr_stack, tr_entry
	.code16
trampoline_start:
	cli
	cld
	movw	%cs, %ax
	movw	%ax, %ds
	xorl	%ebx, %ebx
	movw	%ax, %bx
	shll	$4, %ebx		/* linear base of the page, kept in %ebx */
	lgdtl	(tr_gdt_desc - trampoline_start)
	movl	%cr0, %eax
	orl	$CR0_PE, %eax
	movl	%eax, %cr0
	ljmpl	*(tr_pm32_ptr - trampoline_start)

	.code32
tr_pm32:
	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%cr4, %eax
	orl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	(tr_cr3 - trampoline_start)(%ebx), %eax
	movl	%eax, %cr3
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_LME, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$CR0_PG, %eax
	movl	%eax, %cr0
	ljmpl	*(tr_lm_ptr - trampoline_start)(%ebx)

	.code64
tr_lm:
	movl	%ebx, %ebx
	movq	(tr_stack - trampoline_start)(%rbx), %rsp
	movq	(tr_entry - trampoline_start)(%rbx), %rax
	jmpq	*%rax

	.balign	8
tr_gdt:
	.quad	0
	.quad	0
	.quad	0x00af9a000000ffff	/* 0x10: 64-bit code */
	.quad	0x00cf92000000ffff	/* 0x18: data */
	.quad	0x00cf9a000000ffff	/* 0x20: 32-bit code */
tr_gdt_end:
tr_gdt_desc:				/* fields below are filled in by smp.c */
	.word	tr_gdt_end - tr_gdt - 1
	.long	tr_gdt - trampoline_start
tr_pm32_ptr:
	.long	tr_pm32 - trampoline_start
	.word	SEL_CODE32
tr_lm_ptr:
	.long	tr_lm - trampoline_start
	.word	SEL_CODE64
	.balign	8
tr_cr3:
	.quad	0
tr_stack:
	.quad	0
tr_entry:
	.quad	0
trampoline_end:

	.section ".note.GNU-stack", "", @progbits
