import { R, R2 } from './f80.js';
const stub = (): number => { R[3] = 0; R2[0] = 0; return 1; };
export const fsinX = (_a: number, _b: number, _c: number, _d: number): number => stub();
export const fcosX = fsinX, fsincosX = fsinX, fptanX = fsinX, f2xm1X = fsinX;
export const fpatanX = (_a: number, _b: number, _c: number, _d: number, _e: number, _f: number, _g: number): number => stub();
export const fyl2xX = fpatanX, fyl2xp1X = fpatanX;
