#ifndef SWIFT_BATCHNORM_LIBFUZZER_DRIVER_H
#define SWIFT_BATCHNORM_LIBFUZZER_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (compiler-rt `FuzzerInterface.h`), linked in by `-sanitize=fuzzer`: parses the
/// libFuzzer flags in `argv` and fuzzes `callback`, as libFuzzer's own `main` would.
///
/// The fuzz targets need it because SwiftPM links an executable's `main` to the module's entry point
/// (`--defsym main=<Module>_main`, for testable executables), which replaces libFuzzer's `main`; each
/// target therefore defines `<Module>_main` and hands over to this driver.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
