// Declarations only (see include/LibFuzzerDriver.h); the definition comes with `-sanitize=fuzzer`.
#include "LibFuzzerDriver.h"
