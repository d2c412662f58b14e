// The static inline helpers are in the headers under include/; WideLoops.c holds the AVX2 loops,
// ChannelMath.c the per-channel square roots,
// WhiteningProducts.c the AVX2 + FMA products of the group-whitening kernels.
#include "StreamingStores.h"
#include "SpinWait.h"
#include "SelectZero.h"
#include "WideLoops.h"
#include "WhiteningProducts.h"
#include "ChannelMath.h"
