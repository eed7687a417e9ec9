/* elementwise.c: framework/elementwise_tmpl.h for float and double. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "framework/elementwise.h"
#include "kernels/kernels.h"

#define LN_TEMPLATE "framework/elementwise_tmpl.h"
#include "framework/typed.h"
