//! Raising the open-file limit so 10,000 connections fit in one process.

use std::io;

/// Raises RLIMIT_NOFILE's soft limit to `want` (capped by the hard limit, which root may raise).
/// Returns the soft limit now in force.
pub fn raise_nofile(want: u64) -> io::Result<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur >= want {
        return Ok(lim.rlim_cur);
    }
    let raised = libc::rlimit { rlim_cur: want, rlim_max: lim.rlim_max.max(want) };
    // SAFETY: `raised` is a valid rlimit; failure is reported through errno.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        return Ok(want);
    }
    let capped = libc::rlimit { rlim_cur: lim.rlim_max.min(want), rlim_max: lim.rlim_max };
    // SAFETY: as above; only the soft limit moves, up to the existing hard limit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &capped) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(capped.rlim_cur)
}
