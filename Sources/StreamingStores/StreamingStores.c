// Everything is in include/StreamingStores.h (static inline); SwiftPM needs one source file.
#include "StreamingStores.h"
