/**
 * The mini-VMM lives in src/vmm (the `vkvm run` CLI ships it); the examples use it from here.
 * @module
 */
export * from '../../src/vmm/index.js';
