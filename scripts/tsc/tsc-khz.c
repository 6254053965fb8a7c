// SPDX-License-Identifier: GPL-2.0
/*
 * tsc-khz: the host's TSC rate in kHz, measured against CLOCK_MONOTONIC_RAW
 * over 200 ms. Under TCG a guest's TSC is the host's (QEMU reads the host
 * counter), but the guest cannot calibrate it: its PIT runs at emulated
 * speed and tinyconfig has no HPET or ACPI PM timer, so it falls back to
 * jiffies. scripts/vm-run.sh passes this figure as tsc_early_khz=.
 */
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC_RAW, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(void)
{
	double start = now(), end;
	unsigned long long ticks = __rdtsc();

	do
		end = now();
	while (end - start < 0.2);
	ticks = __rdtsc() - ticks;
	printf("%.0f\n", ticks / (end - start) / 1000);
	return 0;
}
