/*
 * The WebAssembly build is freestanding (no libc): the memory functions the compiler may call, built on
 * the bulk-memory instructions (memory.copy / memory.fill), and the arena's start for the JavaScript side.
 * Not compiled into the native builds.
 */
#include "internal.h"

#if defined(__wasm__)

void *memcpy(void *dst, const void *src, size_t n) {
  __builtin_memcpy(dst, src, n); /* memory.copy under -mbulk-memory */
  return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
  __builtin_memmove(dst, src, n); /* memory.copy handles overlap */
  return dst;
}

void *memset(void *dst, int c, size_t n) {
  __builtin_memset(dst, c, n); /* memory.fill */
  return dst;
}

extern unsigned char __heap_base;

/** First free byte of linear memory (64-byte aligned): the arena may start here and grow the memory. */
__attribute__((export_name("sofar_wasm_heap_base"))) uintptr_t sofar_wasm_heap_base(void) {
  return ((uintptr_t)&__heap_base + 63) & ~(uintptr_t)63;
}

#endif
