// Everything is in the headers under include/ (static inline); SwiftPM needs one source file.
#include "StreamingStores.h"
#include "SpinWait.h"
#include "SelectZero.h"
