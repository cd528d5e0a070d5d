// Loaded with `node --import` into a command a benchmark measures (mdmops itself, unchanged): as the
// process exits, writes its peak RSS in MiB to the file BENCH_PEAK_RSS_FILE names. A process that has
// exited has no /proc/PID/status left to read its VmHWM from.
import { writeFileSync } from 'node:fs';

const file = process.env.BENCH_PEAK_RSS_FILE;
if (file) process.on('exit', () => writeFileSync(file, String(process.resourceUsage().maxRSS / 1024)));
