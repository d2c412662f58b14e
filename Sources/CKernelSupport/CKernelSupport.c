// The static inline helpers are in the headers under include/; WideLoops.c holds the AVX2 loops.
#include "StreamingStores.h"
#include "SpinWait.h"
#include "SelectZero.h"
#include "WideLoops.h"
