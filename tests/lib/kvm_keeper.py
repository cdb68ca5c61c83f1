#!/usr/bin/python3
"""Hold the outer guest's KVM static keys still for the whole nested run (started by tests/lib/nested.py's /init).

Linux's KVM turns static keys on and off as VMs and vCPUs come and go: preempt notifiers (on while any VM
exists; tested in __schedule), "some vCPU has no in-kernel LAPIC", "some LAPIC is hardware- or
software-disabled" (tested all over kvm_arch_vcpu_ioctl_run).  Each flip rewrites kernel text on every CPU with
text_poke_bp: an int3 first, then the new bytes.  Under QEMU's multi-threaded TCG that rewrite races the other
outer vCPU, which then traps on a stale int3 the kernel no longer expects: "Oops: int3" in __schedule or
kvm_arch_vcpu_ioctl_run, "Fatal exception in interrupt", the outer guest dead (docs/testing.md, "Known
flakes"; a clean CI run lost three outer boots to it).  Every test that starts and ends a VM flips them.

So this process makes each of those keys' counts non-zero once, at the start, and keeps them so until the outer
guest powers off: after that no VM's start or end rewrites kernel text.

  VM 1, in-kernel irqchip, one vCPU whose LAPIC stays software-disabled (never enabled by a guest) and is
        hardware-disabled through its APIC base MSR: apic_sw_disabled, apic_hw_disabled, preempt notifiers;
  VM 2, no irqchip, one vCPU: kvm_has_noapic_vcpu.

With the keys on, KVM takes its general paths (checks the vCPU's own state instead of assuming), which are the
correct ones for every VM.  usage: kvm_keeper.py READY_FILE (created once all keys are held; then it sleeps).
"""
import fcntl
import os
import signal
import struct
import sys

from kvm_check import KVM_CREATE_VCPU, KVM_CREATE_VM

KVM_CREATE_IRQCHIP = 0xAE60
KVM_SET_MSRS = 0x4008AE89  # _IOW(KVMIO, 0x89, struct kvm_msrs): nmsrs, pad, then the entries
MSR_IA32_APICBASE = 0x1B
APICBASE_BSP_DISABLED = 0xFEE00000 | 0x100  # default base, BSP, enable bit (11) clear


def hold():
    """Create the VMs and vCPUs; return their descriptors (closing them would let the keys flip again)."""
    kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    vm1 = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)
    fcntl.ioctl(vm1, KVM_CREATE_IRQCHIP, 0)
    vcpu1 = fcntl.ioctl(vm1, KVM_CREATE_VCPU, 0)
    msrs = struct.pack("<IIIIQ", 1, 0, MSR_IA32_APICBASE, 0, APICBASE_BSP_DISABLED)
    done = fcntl.ioctl(vcpu1, KVM_SET_MSRS, bytearray(msrs))
    if done != 1:
        raise OSError(0, f"KVM_SET_MSRS set {done} of 1 MSRs")
    vm2 = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)
    vcpu2 = fcntl.ioctl(vm2, KVM_CREATE_VCPU, 0)
    return [kvm, vm1, vcpu1, vm2, vcpu2]


def main(argv):
    if len(argv) != 2:
        print("usage: kvm_keeper.py READY_FILE", file=sys.stderr)
        return 2
    try:
        fds = hold()
    except OSError as e:
        print(f"kvm keeper: cannot hold KVM's static keys ({e.strerror or e}); VMs starting and ending will "
              f"rewrite kernel text under the tests", file=sys.stderr, flush=True)
        return 1
    with open(argv[1], "w") as f:
        f.write(f"{os.getpid()} {len(fds)}\n")
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
