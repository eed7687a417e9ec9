/* elementwise.h: memory-bound passes shared by the layer kinds and the
 * network drivers (framework/elementwise_tmpl.h), per element type. */
#ifndef LN_ELEMENTWISE_H
#define LN_ELEMENTWISE_H

#include <stddef.h>

#define LN_TEMPLATE "framework/elementwise_decl_tmpl.h"
#include "framework/typed.h"

#endif /* LN_ELEMENTWISE_H */
