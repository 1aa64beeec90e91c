/* (being written) */
#include "common.h"
