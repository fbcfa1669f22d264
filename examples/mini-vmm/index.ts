/**
 * The mini-VMM lives in src/vmm (the `vkvm run` CLI ships it, the package exports it as
 * 'vkvm/vmm'); the examples use it from here.
 * @module
 */
export * from 'vkvm/vmm';
