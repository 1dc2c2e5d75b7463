//! Server-side figures from `/proc`: CPU time and resident memory of a process.

use std::fs;
use std::io;

/// user + system CPU time of `pid` (all its threads), in microseconds.
pub fn cpu_micros(pid: u32) -> io::Result<u64> {
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
}
