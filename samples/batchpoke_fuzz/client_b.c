// SPDX-License-Identifier: GPL-2.0
/* A fuzz client; the body is shared with client_a.c. */
#include "client_body.h"
