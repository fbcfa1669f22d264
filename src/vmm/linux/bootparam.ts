/**
 * The x86 boot protocol's structures (arch/x86/include/uapi/asm/bootparam.h, setup_data.h;
 * Documentation/arch/x86/boot.rst and zero-page.rst), declared with the uapi layout engine so the
 * offsets are computed once and checked against gcc and the system's <asm/bootparam.h>.
 * Sub-structures the VMM never fills (screen_info, edid_info, efi_info...) are byte arrays of
 * their size.
 * @module
 */
import { array, struct, u16, u32, u64, u8 } from '../../index.js';

/** struct setup_header: at offset 0x1f1 of the bzImage and of boot_params. */
export const setup_header = struct(
  'setup_header',
  {
    setup_sects: u8,
    root_flags: u16,
    syssize: u32,
    ram_size: u16,
    vid_mode: u16,
    root_dev: u16,
    boot_flag: u16,
    jump: u16,
    header: u32,
    version: u16,
    realmode_swtch: u32,
    start_sys_seg: u16,
    kernel_version: u16,
    type_of_loader: u8,
    loadflags: u8,
    setup_move_size: u16,
    code32_start: u32,
    ramdisk_image: u32,
    ramdisk_size: u32,
    bootsect_kludge: u32,
    heap_end_ptr: u16,
    ext_loader_ver: u8,
    ext_loader_type: u8,
    cmd_line_ptr: u32,
    initrd_addr_max: u32,
    kernel_alignment: u32,
    relocatable_kernel: u8,
    min_alignment: u8,
    xloadflags: u16,
    cmdline_size: u32,
    hardware_subarch: u32,
    hardware_subarch_data: u64,
    payload_offset: u32,
    payload_length: u32,
    setup_data: u64,
    pref_address: u64,
    init_size: u32,
    handover_offset: u32,
    kernel_info_offset: u32,
  },
  { packed: true },
);

/** struct boot_e820_entry */
export const boot_e820_entry = struct('boot_e820_entry', { addr: u64, size: u64, type: u32 }, { packed: true, size: 20 });

/** E820_MAX_ENTRIES_ZEROPAGE */
export const E820_MAX_ENTRIES_ZEROPAGE = 128;

/** struct boot_params: the "zero page" the 64-bit entry point receives in %rsi. */
export const boot_params = struct(
  'boot_params',
  {
    screen_info: array(u8, 0x40),
    apm_bios_info: array(u8, 0x14),
    _pad2: array(u8, 4),
    tboot_addr: u64,
    ist_info: array(u8, 0x10),
    acpi_rsdp_addr: u64,
    _pad3: array(u8, 8),
    hd0_info: array(u8, 16),
    hd1_info: array(u8, 16),
    sys_desc_table: array(u8, 0x10),
    olpc_ofw_header: array(u8, 0x10),
    ext_ramdisk_image: u32,
    ext_ramdisk_size: u32,
    ext_cmd_line_ptr: u32,
    _pad4: array(u8, 112),
    cc_blob_address: u32,
    edid_info: array(u8, 0x80),
    efi_info: array(u8, 0x20),
    alt_mem_k: u32,
    scratch: u32,
    e820_entries: u8,
    eddbuf_entries: u8,
    edd_mbr_sig_buf_entries: u8,
    kbd_status: u8,
    secure_boot: u8,
    _pad5: array(u8, 2),
    sentinel: u8,
    _pad6: array(u8, 1),
    hdr: setup_header,
    _pad7: array(u8, 0x290 - 0x1f1 - setup_header.size),
    edd_mbr_sig_buffer: array(u32, 16),
    e820_table: array(boot_e820_entry, E820_MAX_ENTRIES_ZEROPAGE),
    _pad8: array(u8, 48),
    eddbuf: array(u8, 0xeec - 0xd00),
    _pad9: array(u8, 276),
  },
  { packed: true, size: 4096 },
);

/** E820 memory types (boot_e820_entry.type). */
export const E820_TYPE = { RAM: 1, RESERVED: 2, ACPI: 3, NVS: 4, UNUSABLE: 5 } as const;

/** setup_header.loadflags bits. */
export const LOADFLAGS = { LOADED_HIGH: 0x01, KASLR_FLAG: 0x02, QUIET_FLAG: 0x20, KEEP_SEGMENTS: 0x40, CAN_USE_HEAP: 0x80 } as const;

/** setup_header.xloadflags bits. */
export const XLF = { KERNEL_64: 0x01, CAN_BE_LOADED_ABOVE_4G: 0x02, EFI_HANDOVER_32: 0x04, EFI_HANDOVER_64: 0x08, EFI_KEXEC: 0x10 } as const;
