/* SPDX-License-Identifier: MIT */
/*
 * vkvm/kvmi.h - KVM introspection (KVMI), a seed extension upstream Linux never merged
 * ("VM introspection" series by Bitdefender, v12, October 2021). x86 only.
 *
 * Written for vkvm from the series' documented layouts (Documentation/virt/kvm/kvmi.rst,
 * include/uapi/linux/kvmi.h and arch/x86/include/uapi/asm/kvmi.h of the series); vkvm's tests
 * check every size, offset and number here against the library's declarations (src/uapi/kvmi.ts).
 * Included by vkvm/kvm.h on x86-64.
 *
 * The VM ioctls
 *   KVM_INTROSPECTION_HOOK      hand the VM a connected stream socket (kvm_introspection_hook.fd);
 *                               EINVAL (padding != 0, fd is not a socket), EEXIST (already hooked)
 *   KVM_INTROSPECTION_UNHOOK    drop the socket, all restrictions and event state; always 0
 *   KVM_INTROSPECTION_COMMAND   allow/disallow a command id (-1: all); EFAULT when not hooked,
 *                               EINVAL for id < -1, id >= KVMI_NUM_COMMANDS or allow > 1, EPERM
 *                               when disallowing GET_VERSION, VM_CHECK_COMMAND or VM_CHECK_EVENT
 *   KVM_INTROSPECTION_EVENT     the same for event ids (KVMI_NUM_EVENTS)
 *   KVM_INTROSPECTION_PREUNHOOK send KVMI_VM_EVENT_UNHOOK; EFAULT (not hooked), ENOENT (event not
 *                               enabled or socket gone)
 * After HOOK every command but the three always-allowed ones, and every event, is disallowed.
 *
 * KVM_CAP_INTROSPECTION: the series' number changed with every rebase (999 in the RFC, then
 * 179, 180, 184, 193; v12's was never published) and 193 is upstream's
 * KVM_CAP_X86_BUS_LOCK_EXIT on x86, so vkvm uses the RFC's 999. KVM_CHECK_EXTENSION returns
 * KVMI_VERSION on x86 VMs and the x86 system fd.
 *
 * Wire protocol (host byte order, one stream socket per VM): every message is a kvmi_msg_hdr
 * followed by `size` bytes (size <= KVMI_MAX_MSG_SIZE, else the connection is dropped). Replies
 * repeat the command's id and seq and carry kvmi_error_code (err = -KVM_E*) followed by the
 * reply struct only when err == 0. vCPU commands (odd ids) start with kvmi_vcpu_hdr. Events are
 *   kvmi_msg_hdr{ id = KVMI_VCPU_EVENT, seq = kernel's counter } + kvmi_event_hdr{ event }
 *   + kvmi_vcpu_event{ size, vcpu, arch } + the event's own struct,
 * answered by
 *   kvmi_msg_hdr{ id = KVMI_VCPU_EVENT, seq = the event's seq } + kvmi_vcpu_hdr
 *   + kvmi_vcpu_event_reply{ action, event } + the event's reply struct (cr/msr new_val).
 * KVMI_VM_EVENT_UNHOOK is kvmi_msg_hdr{ id = KVMI_VM_EVENT } + kvmi_event_hdr, with no reply.
 *
 * vkvm specifics (the virtual backend runs a vCPU on the thread that calls KVM_RUN):
 *  - A vCPU that sent an event waits for the reply inside KVM_RUN for a bounded time (100 ms
 *    on a host socket, 0 for an in-process tool), serving the tool's commands meanwhile. Without
 *    a reply by then it parks: KVM_RUN fails with EINTR and run->exit_reason = KVM_EXIT_INTR,
 *    the guest state being that of the interrupted instruction (nothing of it committed). Each
 *    later KVM_RUN waits again; once the reply is in, the instruction runs again under the
 *    tool's decision. A VMM that retries KVM_RUN on EINTR needs nothing else.
 *  - vCPU commands run as soon as they are read (the vCPU is outside KVM_RUN or at a safe point).
 *  - features.singlestep is 0 (KVMI_VCPU_CONTROL_SINGLESTEP answers -KVM_EOPNOTSUPP);
 *    KVMI_VCPU_GET_XSAVE, KVMI_VCPU_SET_XSAVE and KVMI_VCPU_GET_MTRR_TYPE are not implemented
 *    (-KVM_ENOSYS; VM_CHECK_COMMAND says -KVM_ENOENT).
 *  - A message too short for its variable part (VM_WRITE_PHYSICAL data, VM_SET_PAGE_ACCESS
 *    entries) makes the handler fail with -EINVAL, which, as in the series' code, ends the
 *    receiving side: the socket is shut down and no reply is sent.
 *  - Accesses made while delivering an exception or interrupt (stack pushes, IDT/GDT reads) are
 *    not checked against page restrictions; nor is the second page of an instruction that
 *    starts on an executable page and ends on an execute-restricted one.
 */
#ifndef VKVM_KVMI_H
#define VKVM_KVMI_H

#include <linux/types.h>
#include <linux/kvm.h>
#include <linux/kvm_para.h>

/* ---- error codes carried (negated) in kvmi_error_code.err: the series' additions ----------- */
#ifndef KVM_EAGAIN
#define KVM_EAGAIN		11
#endif
#ifndef KVM_ENOENT
#define KVM_ENOENT		2
#endif
#ifndef KVM_ENOMEM
#define KVM_ENOMEM		12
#endif
#ifndef KVM_EBUSY
#define KVM_EBUSY		16
#endif

/* The agent hypercall: RAX = KVM_HC_XEN_HVM_OP, RDI (EBX) = ..._GUEST_REQUEST_VM_EVENT, RSI (ECX) = 0 */
#ifndef KVM_HC_XEN_HVM_OP
#define KVM_HC_XEN_HVM_OP	34
#endif
#define KVM_HC_XEN_HVM_OP_GUEST_REQUEST_VM_EVENT 24

/* ---- VM ioctls ------------------------------------------------------------------------------ */
#define KVM_CAP_INTROSPECTION	999

struct kvm_introspection_hook {
	__s32 fd;		/* a connected stream socket */
	__u32 padding;		/* must be 0 */
	__u8 uuid[16];		/* for messages only */
};

struct kvm_introspection_feature {
	__u32 allow;		/* 0 or 1 */
	__s32 id;		/* a command or event id, or -1 for all */
};

#define KVM_INTROSPECTION_HOOK		_IOW(KVMIO, 0xc8, struct kvm_introspection_hook)
#define KVM_INTROSPECTION_UNHOOK	_IO(KVMIO, 0xc9)
#define KVM_INTROSPECTION_COMMAND	_IOW(KVMIO, 0xca, struct kvm_introspection_feature)
#define KVM_INTROSPECTION_EVENT		_IOW(KVMIO, 0xcb, struct kvm_introspection_feature)
#define KVM_INTROSPECTION_PREUNHOOK	_IO(KVMIO, 0xcc)

/* ---- ids ------------------------------------------------------------------------------------ */
#define KVMI_VERSION		0x00000001
#define KVMI_MAX_MSG_SIZE	(4096 * 2 - 8)	/* 4096 * 2 - sizeof(struct kvmi_msg_hdr) */

#define KVMI_VM_MESSAGE_ID(id)		((id) << 1)
#define KVMI_VCPU_MESSAGE_ID(id)	(((id) << 1) | 1)

enum {
	KVMI_VM_EVENT		= KVMI_VM_MESSAGE_ID(0),
	KVMI_GET_VERSION	= KVMI_VM_MESSAGE_ID(1),
	KVMI_VM_CHECK_COMMAND	= KVMI_VM_MESSAGE_ID(2),
	KVMI_VM_CHECK_EVENT	= KVMI_VM_MESSAGE_ID(3),
	KVMI_VM_GET_INFO	= KVMI_VM_MESSAGE_ID(4),
	KVMI_VM_CONTROL_EVENTS	= KVMI_VM_MESSAGE_ID(5),
	KVMI_VM_READ_PHYSICAL	= KVMI_VM_MESSAGE_ID(6),
	KVMI_VM_WRITE_PHYSICAL	= KVMI_VM_MESSAGE_ID(7),
	KVMI_VM_PAUSE_VCPU	= KVMI_VM_MESSAGE_ID(8),
	KVMI_VM_CONTROL_CLEANUP	= KVMI_VM_MESSAGE_ID(9),
	KVMI_VM_SET_PAGE_ACCESS	= KVMI_VM_MESSAGE_ID(10),

	KVMI_NEXT_VM_MESSAGE
};

enum {
	KVMI_VCPU_EVENT			= KVMI_VCPU_MESSAGE_ID(0),
	KVMI_VCPU_GET_INFO		= KVMI_VCPU_MESSAGE_ID(1),
	KVMI_VCPU_CONTROL_EVENTS	= KVMI_VCPU_MESSAGE_ID(2),
	KVMI_VCPU_GET_REGISTERS		= KVMI_VCPU_MESSAGE_ID(3),
	KVMI_VCPU_SET_REGISTERS		= KVMI_VCPU_MESSAGE_ID(4),
	KVMI_VCPU_GET_CPUID		= KVMI_VCPU_MESSAGE_ID(5),
	KVMI_VCPU_CONTROL_CR		= KVMI_VCPU_MESSAGE_ID(6),
	KVMI_VCPU_INJECT_EXCEPTION	= KVMI_VCPU_MESSAGE_ID(7),
	KVMI_VCPU_GET_XCR		= KVMI_VCPU_MESSAGE_ID(8),
	KVMI_VCPU_GET_XSAVE		= KVMI_VCPU_MESSAGE_ID(9),
	KVMI_VCPU_SET_XSAVE		= KVMI_VCPU_MESSAGE_ID(10),
	KVMI_VCPU_GET_MTRR_TYPE		= KVMI_VCPU_MESSAGE_ID(11),
	KVMI_VCPU_CONTROL_MSR		= KVMI_VCPU_MESSAGE_ID(12),
	KVMI_VCPU_CONTROL_SINGLESTEP	= KVMI_VCPU_MESSAGE_ID(13),
	KVMI_VCPU_TRANSLATE_GVA		= KVMI_VCPU_MESSAGE_ID(14),

	KVMI_NEXT_VCPU_MESSAGE
};

#define KVMI_VM_EVENT_ID(id)	((id) << 1)
#define KVMI_VCPU_EVENT_ID(id)	(((id) << 1) | 1)

enum {
	KVMI_VM_EVENT_UNHOOK	= KVMI_VM_EVENT_ID(0),

	KVMI_NEXT_VM_EVENT
};

enum {
	KVMI_VCPU_EVENT_PAUSE		= KVMI_VCPU_EVENT_ID(0),
	KVMI_VCPU_EVENT_HYPERCALL	= KVMI_VCPU_EVENT_ID(1),
	KVMI_VCPU_EVENT_BREAKPOINT	= KVMI_VCPU_EVENT_ID(2),
	KVMI_VCPU_EVENT_CR		= KVMI_VCPU_EVENT_ID(3),
	KVMI_VCPU_EVENT_TRAP		= KVMI_VCPU_EVENT_ID(4),
	KVMI_VCPU_EVENT_XSETBV		= KVMI_VCPU_EVENT_ID(5),
	KVMI_VCPU_EVENT_DESCRIPTOR	= KVMI_VCPU_EVENT_ID(6),
	KVMI_VCPU_EVENT_MSR		= KVMI_VCPU_EVENT_ID(7),
	KVMI_VCPU_EVENT_PF		= KVMI_VCPU_EVENT_ID(8),
	KVMI_VCPU_EVENT_SINGLESTEP	= KVMI_VCPU_EVENT_ID(9),

	KVMI_NEXT_VCPU_EVENT
};

/* sizes of the allow-lists: max(NEXT_VM_*, NEXT_VCPU_*) */
#define KVMI_NUM_COMMANDS	((int)KVMI_NEXT_VM_MESSAGE > (int)KVMI_NEXT_VCPU_MESSAGE ? (int)KVMI_NEXT_VM_MESSAGE : (int)KVMI_NEXT_VCPU_MESSAGE)
#define KVMI_NUM_EVENTS		((int)KVMI_NEXT_VM_EVENT > (int)KVMI_NEXT_VCPU_EVENT ? (int)KVMI_NEXT_VM_EVENT : (int)KVMI_NEXT_VCPU_EVENT)

enum {
	KVMI_EVENT_ACTION_CONTINUE	= 0,	/* every event but UNHOOK */
	KVMI_EVENT_ACTION_RETRY		= 1,	/* BREAKPOINT, DESCRIPTOR, PF */
	KVMI_EVENT_ACTION_CRASH		= 2,	/* the vCPU exits with KVM_EXIT_SHUTDOWN */
};

enum {
	KVMI_PAGE_ACCESS_R = 1 << 0,
	KVMI_PAGE_ACCESS_W = 1 << 1,
	KVMI_PAGE_ACCESS_X = 1 << 2,
};

/* ---- generic structs ------------------------------------------------------------------------ */
struct kvmi_msg_hdr {
	__u16 id;
	__u16 size;	/* bytes after this header */
	__u32 seq;
};

struct kvmi_error_code {
	__s32 err;
	__u32 padding;
};

struct kvmi_features {
	__u8 singlestep;
	__u8 padding[7];
};

struct kvmi_get_version_reply {
	__u32 version;
	__u32 max_msg_size;
	struct kvmi_features features;
};

struct kvmi_vm_check_command {
	__u16 id;
	__u16 padding1;
	__u32 padding2;
};

struct kvmi_vm_check_event {
	__u16 id;
	__u16 padding1;
	__u32 padding2;
};

struct kvmi_vm_get_info_reply {
	__u32 vcpu_count;
	__u32 padding[3];
};

struct kvmi_event_hdr {
	__u16 event;
	__u16 padding[3];
};

struct kvmi_vm_control_events {
	__u16 event_id;
	__u8 enable;
	__u8 padding1;
	__u32 padding2;
};

struct kvmi_vm_read_physical {
	__u64 gpa;
	__u16 size;
	__u16 padding1;
	__u32 padding2;
};

struct kvmi_vm_write_physical {
	__u64 gpa;
	__u16 size;
	__u16 padding1;
	__u32 padding2;
	__u8  data[];
};

struct kvmi_vcpu_hdr {
	__u16 vcpu;
	__u16 padding1;
	__u32 padding2;
};

struct kvmi_vm_pause_vcpu {
	__u16 vcpu;
	__u8 wait;
	__u8 padding1;
	__u32 padding2;
};

struct kvmi_vcpu_event_reply {
	__u8 action;
	__u8 event;
	__u16 padding1;
	__u32 padding2;
};

struct kvmi_vcpu_control_events {
	__u16 event_id;
	__u8 enable;
	__u8 padding1;
	__u32 padding2;
};

struct kvmi_vcpu_event_breakpoint {
	__u64 gpa;
	__u8 insn_len;
	__u8 padding[7];
};

struct kvmi_vm_control_cleanup {
	__u8 enable;
	__u8 padding[7];
};

struct kvmi_page_access_entry {
	__u64 gpa;
	__u8 access;
	__u8 padding[7];
};

struct kvmi_vm_set_page_access {
	__u16 count;
	__u16 padding1;
	__u32 padding2;
	struct kvmi_page_access_entry entries[];
};

struct kvmi_vcpu_event_pf {
	__u64 gva;	/* ~0 when the linear address is not known */
	__u64 gpa;
	__u8 access;	/* the one KVMI_PAGE_ACCESS_* bit attempted */
	__u8 padding1;
	__u16 padding2;
	__u32 padding3;
};

struct kvmi_vcpu_control_singlestep {
	__u8 enable;
	__u8 padding[7];
};

struct kvmi_vcpu_event_singlestep {
	__u8 failed;
	__u8 padding[7];
};

struct kvmi_vcpu_translate_gva {
	__u64 gva;
};

struct kvmi_vcpu_translate_gva_reply {
	__u64 gpa;
};

/* ---- x86 ------------------------------------------------------------------------------------ */
enum {
	KVMI_DESC_IDTR	= 1,
	KVMI_DESC_GDTR	= 2,
	KVMI_DESC_LDTR	= 3,
	KVMI_DESC_TR	= 4,
};

struct kvmi_vcpu_get_info_reply {
	__u64 tsc_speed;
};

struct kvmi_vcpu_event_arch {
	__u8 mode;		/* 2, 4 or 8 */
	__u8 padding[7];
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct {
		__u64 sysenter_cs;
		__u64 sysenter_esp;
		__u64 sysenter_eip;
		__u64 efer;
		__u64 star;
		__u64 lstar;
		__u64 cstar;
		__u64 pat;
		__u64 shadow_gs;
	} msrs;
};

struct kvmi_vcpu_event {
	__u16 size;		/* sizeof(struct kvmi_vcpu_event) */
	__u16 vcpu;
	__u32 padding;
	struct kvmi_vcpu_event_arch arch;
};

struct kvmi_vcpu_get_registers {
	__u16 nmsrs;
	__u16 padding1;
	__u32 padding2;
	__u32 msrs_idx[];
};

struct kvmi_vcpu_get_registers_reply {
	__u32 mode;
	__u32 padding;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_msrs msrs;	/* nmsrs entries follow */
};

struct kvmi_vcpu_get_cpuid {
	__u32 function;
	__u32 index;
};

struct kvmi_vcpu_get_cpuid_reply {
	__u32 eax;
	__u32 ebx;
	__u32 ecx;
	__u32 edx;
};

struct kvmi_vcpu_control_cr {
	__u8 cr;		/* 0, 3 or 4 */
	__u8 enable;
	__u16 padding1;
	__u32 padding2;
};

struct kvmi_vcpu_event_cr {
	__u8 cr;
	__u8 padding[7];
	__u64 old_value;
	__u64 new_value;
};

struct kvmi_vcpu_event_cr_reply {
	__u64 new_val;		/* written on CONTINUE */
};

struct kvmi_vcpu_event_trap {
	__u8 nr;
	__u8 padding1;
	__u16 padding2;
	__u32 error_code;
	__u64 address;
};

struct kvmi_vcpu_inject_exception {
	__u8 nr;
	__u8 padding1;
	__u16 padding2;
	__u32 error_code;
	__u64 address;		/* CR2 for #PF */
};

struct kvmi_vcpu_event_xsetbv {
	__u8 xcr;
	__u8 padding[7];
	__u64 old_value;
	__u64 new_value;
};

struct kvmi_vcpu_get_xcr {
	__u8 xcr;
	__u8 padding[7];
};

struct kvmi_vcpu_get_xcr_reply {
	__u64 value;
};

struct kvmi_vcpu_get_mtrr_type {
	__u64 gpa;
};

struct kvmi_vcpu_get_mtrr_type_reply {
	__u8 type;
	__u8 padding[7];
};

struct kvmi_vcpu_event_descriptor {
	__u8 descriptor;	/* KVMI_DESC_* */
	__u8 write;		/* 1: load (LGDT...), 0: store (SGDT...) */
	__u8 padding[6];
};

struct kvmi_vcpu_control_msr {
	__u8 enable;
	__u8 padding1;
	__u16 padding2;
	__u32 msr;		/* 0..0x1fff or 0xc0000000..0xc0001fff */
};

struct kvmi_vcpu_event_msr {
	__u32 msr;
	__u32 padding;
	__u64 old_value;
	__u64 new_value;
};

struct kvmi_vcpu_event_msr_reply {
	__u64 new_val;		/* written on CONTINUE */
};

#endif /* VKVM_KVMI_H */
