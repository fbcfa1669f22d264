/* SPDX-License-Identifier: MIT */
/*
 * vkvm/kvm.h - KVM uapi that older <linux/kvm.h> headers (Debian 12 ships 6.1) do not have.
 *
 * Include it after (or instead of) <linux/kvm.h>. Everything is guarded, so on a system whose
 * kernel headers already define an item, those definitions win and this header adds nothing.
 * Written for vkvm from the documented layouts (Documentation/virt/kvm/api.rst, intel-tdx.rst);
 * vkvm's own tests check every offset and number here against the library's declarations.
 *
 * Also declares the two seed extensions vkvm implements that upstream never merged:
 *   - arm64 IDSR exits (see vkvm/arm_idsr.h, arm64 only)
 *   - KVM introspection (see vkvm/kvmi.h, x86 only)
 */
#ifndef VKVM_KVM_H
#define VKVM_KVM_H

#include <linux/kvm.h>

/* ---- capabilities added after 6.1 ---------------------------------------------------------- */
#ifndef KVM_CAP_S390_PROTECTED_ASYNC_DISABLE
#define KVM_CAP_S390_PROTECTED_ASYNC_DISABLE 224
#endif
#ifndef KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP
#define KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP 225
#endif
#ifndef KVM_CAP_PMU_EVENT_MASKED_EVENTS
#define KVM_CAP_PMU_EVENT_MASKED_EVENTS 226
#endif
#ifndef KVM_CAP_COUNTER_OFFSET
#define KVM_CAP_COUNTER_OFFSET 227
#endif
#ifndef KVM_CAP_ARM_EAGER_SPLIT_CHUNK_SIZE
#define KVM_CAP_ARM_EAGER_SPLIT_CHUNK_SIZE 228
#endif
#ifndef KVM_CAP_ARM_SUPPORTED_BLOCK_SIZES
#define KVM_CAP_ARM_SUPPORTED_BLOCK_SIZES 229
#endif
#ifndef KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES
#define KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES 230
#endif
#ifndef KVM_CAP_USER_MEMORY2
#define KVM_CAP_USER_MEMORY2 231
#endif
#ifndef KVM_CAP_MEMORY_FAULT_INFO
#define KVM_CAP_MEMORY_FAULT_INFO 232
#endif
#ifndef KVM_CAP_MEMORY_ATTRIBUTES
#define KVM_CAP_MEMORY_ATTRIBUTES 233
#endif
#ifndef KVM_CAP_GUEST_MEMFD
#define KVM_CAP_GUEST_MEMFD 234
#endif
#ifndef KVM_CAP_VM_TYPES
#define KVM_CAP_VM_TYPES 235
#endif
#ifndef KVM_CAP_PRE_FAULT_MEMORY
#define KVM_CAP_PRE_FAULT_MEMORY 236
#endif
#ifndef KVM_CAP_X86_APIC_BUS_CYCLES_NS
#define KVM_CAP_X86_APIC_BUS_CYCLES_NS 237
#endif
#ifndef KVM_CAP_X86_GUEST_MODE
#define KVM_CAP_X86_GUEST_MODE 238
#endif
#ifndef KVM_CAP_ARM_WRITABLE_IMP_ID_REGS
#define KVM_CAP_ARM_WRITABLE_IMP_ID_REGS 239
#endif
#ifndef KVM_CAP_ARM_EL2
#define KVM_CAP_ARM_EL2 240
#endif
#ifndef KVM_CAP_ARM_EL2_E2H0
#define KVM_CAP_ARM_EL2_E2H0 241
#endif
#ifndef KVM_CAP_RISCV_MP_STATE_RESET
#define KVM_CAP_RISCV_MP_STATE_RESET 242
#endif
#ifndef KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED
#define KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED 243
#endif
#ifndef KVM_CAP_GUEST_MEMFD_FLAGS
#define KVM_CAP_GUEST_MEMFD_FLAGS 244
#endif

/* ---- exit reasons and their payloads ------------------------------------------------------- */
#ifndef KVM_EXIT_LOONGARCH_IOCSR
#define KVM_EXIT_LOONGARCH_IOCSR 38
#endif
#ifndef KVM_EXIT_MEMORY_FAULT
#define KVM_EXIT_MEMORY_FAULT 39
#endif
#ifndef KVM_EXIT_TDX
#define KVM_EXIT_TDX 40
#endif
#ifndef KVM_SYSTEM_EVENT_TDX_FATAL
#define KVM_SYSTEM_EVENT_TDX_FATAL 7
#endif
#ifndef KVM_MEMORY_EXIT_FLAG_PRIVATE
#define KVM_MEMORY_EXIT_FLAG_PRIVATE (1ULL << 3)
#endif

/*
 * Newer kvm_run exit-union members. With 6.1 headers struct kvm_run lacks the names, so these
 * structs describe the payload that starts at the exit union (the same address as run->mmio);
 * use VKVM_RUN_EXIT(run, kvm_run_memory_fault)->gpa where newer headers would say
 * run->memory_fault.gpa.
 */
#define VKVM_RUN_EXIT(run, type) ((struct type *)(void *)&(run)->padding[0])

/* KVM_EXIT_MEMORY_FAULT: run->memory_fault */
struct kvm_run_memory_fault {
	__u64 flags;
	__u64 gpa;
	__u64 size;
};

/* KVM_EXIT_TDX: run->tdx */
struct kvm_run_tdx {
	__u64 flags;
	__u64 nr;
	union {
		struct {
			__u64 ret;
			__u64 data[5];
		} unknown;
		struct {
			__u64 ret;
			__u64 gpa;
			__u64 size;
		} get_quote;
		struct {
			__u64 ret;
			__u64 leaf;
			__u64 r11, r12, r13, r14;
		} get_tdvmcall_info;
		struct {
			__u64 ret;
			__u64 vector;
		} setup_event_notify;
	};
};

/* ---- memslots v2, guest_memfd, memory attributes -------------------------------------------- */
#ifndef KVM_MEM_GUEST_MEMFD
#define KVM_MEM_GUEST_MEMFD (1UL << 2)
#endif

#ifndef KVM_SET_USER_MEMORY_REGION2
struct kvm_userspace_memory_region2 {
	__u32 slot;
	__u32 flags;
	__u64 guest_phys_addr;
	__u64 memory_size;
	__u64 userspace_addr;
	__u64 guest_memfd_offset;	/* offset into the guest_memfd file */
	__u32 guest_memfd;		/* fd from KVM_CREATE_GUEST_MEMFD */
	__u32 pad1;
	__u64 pad2[14];
};
#define KVM_SET_USER_MEMORY_REGION2 _IOW(KVMIO, 0x49, struct kvm_userspace_memory_region2)
#endif

#ifndef KVM_SET_MEMORY_ATTRIBUTES
struct kvm_memory_attributes {
	__u64 address;		/* gpa, page aligned */
	__u64 size;		/* bytes, page aligned */
	__u64 attributes;	/* KVM_MEMORY_ATTRIBUTE_* */
	__u64 flags;		/* must be 0 */
};
#define KVM_SET_MEMORY_ATTRIBUTES _IOW(KVMIO, 0xd2, struct kvm_memory_attributes)
#endif
#ifndef KVM_MEMORY_ATTRIBUTE_PRIVATE
#define KVM_MEMORY_ATTRIBUTE_PRIVATE (1ULL << 3)
#endif

#ifndef KVM_CREATE_GUEST_MEMFD
struct kvm_create_guest_memfd {
	__u64 size;
	__u64 flags;
	__u64 reserved[6];
};
#define KVM_CREATE_GUEST_MEMFD _IOWR(KVMIO, 0xd4, struct kvm_create_guest_memfd)
#endif
#ifndef GUEST_MEMFD_FLAG_MMAP
#define GUEST_MEMFD_FLAG_MMAP (1ULL << 0)
#endif
#ifndef GUEST_MEMFD_FLAG_INIT_SHARED
#define GUEST_MEMFD_FLAG_INIT_SHARED (1ULL << 1)
#endif

#if defined(__x86_64__)
/* ---- x86: VM types, run flags, TDX ---------------------------------------------------------- */
#ifndef KVM_X86_DEFAULT_VM
#define KVM_X86_DEFAULT_VM	0
#define KVM_X86_SW_PROTECTED_VM	1
#define KVM_X86_SEV_VM		2
#define KVM_X86_SEV_ES_VM	3
#define KVM_X86_SNP_VM		4
#endif
#ifndef KVM_X86_TDX_VM
#define KVM_X86_TDX_VM		5

/* KVM_MEMORY_ENCRYPT_OP sub-commands for a TDX VM (struct kvm_tdx_cmd.id) */
enum kvm_tdx_cmd_id {
	KVM_TDX_CAPABILITIES = 0,
	KVM_TDX_INIT_VM,
	KVM_TDX_INIT_VCPU,
	KVM_TDX_INIT_MEM_REGION,
	KVM_TDX_FINALIZE_VM,
	KVM_TDX_GET_CPUID,
	KVM_TDX_TERMINATE_VM,	/* 6.18: release the HKID early; the VM is dead afterwards */

	KVM_TDX_CMD_NR_MAX,
};

#define KVM_TDX_CAP_TERMINATE_VM	(1ULL << 0)	/* kvm_tdx_capabilities.supported_caps */

struct kvm_tdx_cmd {
	__u32 id;		/* enum kvm_tdx_cmd_id */
	__u32 flags;		/* per sub-command; 0 where unused */
	__u64 data;		/* immediate or user pointer, per sub-command */
	__u64 hw_error;		/* out: TDX module status in addition to -errno */
};

struct kvm_tdx_capabilities {
	__u64 supported_attrs;
	__u64 supported_xfam;
	__u64 kernel_tdvmcallinfo_1_r11;
	__u64 user_tdvmcallinfo_1_r11;
	__u64 kernel_tdvmcallinfo_1_r12;
	__u64 user_tdvmcallinfo_1_r12;
	__u64 supported_caps;	/* KVM_TDX_CAP_* */
	__u64 reserved[249];
	struct kvm_cpuid2 cpuid;	/* configurable CPUID bits; nent in, entries out */
};

struct kvm_tdx_init_vm {
	__u64 attributes;
	__u64 xfam;
	__u64 mrconfigid[6];	/* SHA-384 */
	__u64 mrowner[6];	/* SHA-384 */
	__u64 mrownerconfig[6];	/* SHA-384 */
	__u64 reserved[12];	/* TD_PARAMS before the CPUID config: 256 bytes in all */
	struct kvm_cpuid2 cpuid;
};

#define KVM_TDX_MEASURE_MEMORY_REGION	(1ULL << 0)

struct kvm_tdx_init_mem_region {
	__u64 source_addr;	/* user pointer to the initial contents */
	__u64 gpa;
	__u64 nr_pages;
};
#endif /* KVM_X86_TDX_VM */

#ifndef KVM_RUN_X86_GUEST_MODE
#define KVM_RUN_X86_GUEST_MODE (1 << 2)
#endif
#ifndef KVM_EXIT_HYPERCALL_LONG_MODE
#define KVM_EXIT_HYPERCALL_LONG_MODE (1ULL << 0)
#endif
#ifndef CP_VECTOR
#define CP_VECTOR 21
#endif
#endif /* __x86_64__ */

#if defined(__aarch64__)
/* ---- arm64 uapi added after 6.1 ---------------------------------------------------------- */
/* The nested-virtualization timers' PPI attributes (6.11). */
#ifndef KVM_ARM_VCPU_TIMER_IRQ_HVTIMER
#define KVM_ARM_VCPU_TIMER_IRQ_HVTIMER 2
#endif
#ifndef KVM_ARM_VCPU_TIMER_IRQ_HPTIMER
#define KVM_ARM_VCPU_TIMER_IRQ_HPTIMER 3
#endif
/* One counter offset for every vCPU's virtual and physical counters (6.4). */
#ifndef KVM_ARM_SET_COUNTER_OFFSET
struct kvm_arm_counter_offset {
	__u64 counter_offset;
	__u64 reserved;
};
#define KVM_ARM_SET_COUNTER_OFFSET _IOW(KVMIO, 0xb5, struct kvm_arm_counter_offset)
#endif

/* The SMCCC filter, a VM device attribute, and the arm64 KVM_EXIT_HYPERCALL flags (6.4). */
#ifndef KVM_ARM_VM_SMCCC_CTRL
#define KVM_ARM_VM_SMCCC_CTRL 0
#define KVM_ARM_VM_SMCCC_FILTER 0
#define KVM_SMCCC_FILTER_HANDLE 0
#define KVM_SMCCC_FILTER_DENY 1
#define KVM_SMCCC_FILTER_FWD_TO_USER 2
struct kvm_smccc_filter {
	__u32 base;
	__u32 nr_functions;
	__u8 action;
	__u8 pad[15];
};
#define KVM_HYPERCALL_EXIT_SMC (1U << 0)
#define KVM_HYPERCALL_EXIT_16BIT (1U << 1)
#endif

#include "arm_idsr.h"
#endif

/* KVM introspection seed extension (x86 only) */
#if defined(__x86_64__)
#include "kvmi.h"
#endif

#endif /* VKVM_KVM_H */
