/* SPDX-License-Identifier: MIT */
/*
 * vkvm/arm_idsr.h - the arm64 IDSR exit, a seed extension upstream Linux never merged
 * ("KVM: arm64: Add support for IDSR exits to userspace", Lev Aronsky, kvmarm, March 2020).
 *
 * IDSRs are IMPLEMENTATION DEFINED system registers: MRS/MSR encodings with op0 == 3 and
 * CRn == 11 or CRn == 15. Plain KVM injects UNDEF into the guest when it traps one; with this
 * extension a VMM can emulate them instead (the patch's use case: guests written for one
 * specific implementation).
 *
 * Numbers are the patch's. They clash with upstream numbers of other architectures
 * (29 is KVM_EXIT_X86_RDMSR, 180 is KVM_CAP_S390_PROTECTED), so they exist on arm64 only:
 * vkvm/kvm.h includes this header only when __aarch64__ is defined, and vkvm answers the
 * capability only on arm64 VMs.
 *
 * Use:
 *   KVM_CHECK_EXTENSION(KVM_CAP_ARM_IDSR_TO_USER) returns 1 on the system and VM fds.
 *   KVM_ENABLE_CAP(vm_fd, { .cap = KVM_CAP_ARM_IDSR_TO_USER }) turns the exits on for the VM.
 *
 * State machine (per vCPU; "the access" is the guest's MRS or MSR):
 *
 *   1. Guest at EL1 executes the access, capability enabled:
 *        KVM_RUN returns with run->exit_reason = KVM_EXIT_ARM_IDSR and run->arm_idsr =
 *        { Op0, Op1, CRn, CRm, Op2 } of the access, is_write (1 for MSR), regval (the value
 *        being written for MSR, 0 for MRS), is_needed = 1, is_handled = 0.
 *        The guest PC still points at the access.
 *   2. The VMM handles it or not: is_handled = 1 (for a read, with the value in regval), or
 *      leaves is_handled = 0 to refuse it.
 *   3. Next KVM_RUN, on entry, when exit_reason is still KVM_EXIT_ARM_IDSR and is_needed is 1
 *      (before immediate_exit is honoured, like an MMIO completion):
 *        is_handled == 1: a read writes regval to Rt (nothing for XZR); the access is skipped
 *                         (PC += 4);
 *        is_handled == 0: UNDEF is injected at the access (ESR_EL1.EC = 0, to the guest's
 *                         vector), as KVM does for any unknown system register;
 *        either way KVM clears is_needed.
 *      If the VMM cleared is_needed (or changed exit_reason), KVM does nothing: the access is
 *      executed again and exits again.
 *
 *   Without the capability, or from EL0 (the trap is not taken to the hypervisor there), the
 *   guest gets UNDEF and no exit happens.
 */
#ifndef VKVM_ARM_IDSR_H
#define VKVM_ARM_IDSR_H

#include <linux/types.h>

#ifndef KVM_CAP_ARM_IDSR_TO_USER
#define KVM_CAP_ARM_IDSR_TO_USER 180
#endif
#ifndef KVM_EXIT_ARM_IDSR
#define KVM_EXIT_ARM_IDSR 29
#endif

/*
 * The kvm_run union member for KVM_EXIT_ARM_IDSR (run->arm_idsr in the patch; here a named
 * struct, read it at the union's offset: (struct kvm_run_arm_idsr *)&run->padding).
 * The patch declared the five u8 fields followed directly by __u64 regval; the 3 bytes of
 * padding the compiler inserts there are spelled out so the layout is explicit. Size 24.
 */
struct kvm_run_arm_idsr {
	__u8 Op0;
	__u8 Op1;
	__u8 CRn;
	__u8 CRm;
	__u8 Op2;
	__u8 padding[3];
	__u64 regval;
	__u8 is_write;
	__u8 is_needed;  /* set by KVM on exit */
	__u8 is_handled; /* set by userspace before the next KVM_RUN */
};

#endif /* VKVM_ARM_IDSR_H */
