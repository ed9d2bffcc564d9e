{
  "targets": [
    {
      "target_name": "sofar_kernels",
      "sources": [
        "src/addon.c",
        "src/dispatch.c",
        "src/threadpool.c",
        "src/bconv.c",
        "src/pack-affine.c",
        "src/bconv-scalar.c",
        "src/bconv-avx2.c",
        "src/bconv-avx512.c",
        "src/conv.c",
        "src/sgemm-scalar.c",
        "src/sgemm-avx2.c",
        "src/sgemm-avx512.c",
        "src/dwconv.c",
        "src/dwconv-scalar.c",
        "src/dwconv-avx2.c",
        "src/dwconv-avx512.c",
        "src/dwconv-neon.c",
        "src/bconv-neon.c",
        "src/sgemm-neon.c",
        "src/elementwise.c",
        "src/peak.c"
      ],
      "include_dirs": ["include"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O3", "-ffp-contract=off", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_c": ["-std=c11"],
      "cflags!": ["-O2", "-O0", "-Os"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "GCC_OPTIMIZATION_LEVEL": "3",
        "GCC_C_LANGUAGE_STANDARD": "c11",
        "OTHER_CFLAGS": ["-ffp-contract=off", "-fvisibility=hidden"]
      }
    }
  ]
}
