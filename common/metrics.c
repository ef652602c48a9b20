#include "metrics.h"

sio_metrics_t sio_metrics;
