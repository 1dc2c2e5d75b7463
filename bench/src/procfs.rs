//! Server-side figures from `/proc`: CPU time and resident memory of a process.

use std::fs;
use std::io;

/// user + system CPU time of `pid` (all its threads), in microseconds: the process's CPU-time
/// clock (nanoseconds, the scheduler's own count), else `/proc/PID/stat` (in clock ticks, 10 ms).
pub fn cpu_micros(pid: u32) -> io::Result<u64> {
    cpu_clock_micros(pid).or_else(|_| stat_cpu_micros(pid))
}

/// CPU time of `pid` from its CPU-time clock (`clock_getcpuclockid`), in microseconds.
fn cpu_clock_micros(pid: u32) -> io::Result<u64> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| bad("pid out of range"))?;
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `clock` is a valid out-pointer for the call's duration.
    let rc = unsafe { libc::clock_getcpuclockid(pid, &mut clock) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer for the call's duration.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000)
}

/// CPU time of `pid` from `/proc/PID/stat` (utime + stime), in microseconds.
fn stat_cpu_micros(pid: u32) -> io::Result<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may contain spaces; fields resume after the last ')'.
    let rest = &stat[stat.rfind(')').ok_or_else(|| bad("no ')' in stat"))? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': index 0 is field 3 (state), so utime (14) is 11 and stime (15) is 12.
    let tick =
        |i: usize| -> io::Result<u64> { fields.get(i).and_then(|f| f.parse().ok()).ok_or_else(|| bad("short stat")) };
    Ok((tick(11)? + tick(12)?) * 1_000_000 / clock_ticks_per_sec())
}

/// VmRSS of `pid` in KiB.
pub fn rss_kib(pid: u32) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| bad("no VmRSS"))
}

fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_cpu_and_rss() {
        let me = std::process::id();
        assert!(rss_kib(me).unwrap() > 0);
        assert!(cpu_micros(me).is_ok());
    }

    #[test]
    fn another_process_cpu_clock_agrees_with_its_stat() {
        let mut child = std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap();
        // Until the child has used 50 ms of CPU by its stat (bounded by the spin count).
        let mut stat = 0;
        for _ in 0..10_000_000 {
            stat = stat_cpu_micros(child.id()).unwrap();
            if stat >= 50_000 {
                break;
            }
            std::thread::yield_now();
        }
        let clock = cpu_clock_micros(child.id()).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(stat >= 50_000, "the child used no CPU: stat {stat} us");
        assert!(clock.abs_diff(stat) <= 20_000, "clock {clock} us, stat {stat} us");
    }
}
