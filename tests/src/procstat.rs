//! Memory and CPU time of a process (and of its descendants) from `/proc`, for the
//! benchmark programs.

use std::time::Duration;

/// A numeric field of `/proc/<pid>/status` in kB (`VmRSS:`, `VmHWM:`); 0 when unreadable.
pub fn status_kb(pid: &str, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The fields of `/proc/<pid>/stat` after the parenthesised command name.
fn stat_fields(pid: &str) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    rest.split_whitespace().map(str::to_string).collect()
}

/// CPU time (user + system) a process has used so far; `pid` may be `self`.
pub fn cpu_time(pid: &str) -> Duration {
    // utime and stime are the 12th and 13th fields after the command name.
    let ticks: u64 = stat_fields(pid)
        .iter()
        .skip(11)
        .take(2)
        .filter_map(|n| n.parse::<u64>().ok())
        .sum();
    // USER_HZ is 100 on every Linux ABI.
    Duration::from_millis(ticks * 10)
}

/// `pid` and every process below it.
pub fn tree(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return all;
    };
    let parents: Vec<(u32, u32)> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| {
            let ppid = stat_fields(&p.to_string()).get(1)?.parse().ok()?;
            Some((p, ppid))
        })
        .collect();
    let mut i = 0;
    while i < all.len() {
        let parent = all[i];
        all.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    all
}

/// Resident memory of `pid` and its descendants, in kB.
pub fn tree_rss_kb(pid: u32) -> u64 {
    tree(pid)
        .iter()
        .map(|p| status_kb(&p.to_string(), "VmRSS:"))
        .sum()
}

/// CPU time of `pid` and its descendants.
pub fn tree_cpu(pid: u32) -> Duration {
    tree(pid).iter().map(|p| cpu_time(&p.to_string())).sum()
}
